"""Stage entry points: interrupts end a stage cleanly, however the process was started."""
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

SLEEPER = "from onehead.cli import user_errors\nimport time\nwith user_errors('stage'):\n    print('ready', flush=True)\n    time.sleep(60)\n"


def test_sigint_interrupts_even_when_inherited_as_ignored():
    """Background jobs of a non-interactive shell start with SIGINT ignored; a stage must still stop."""
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted; previous outputs left as they were" in err
