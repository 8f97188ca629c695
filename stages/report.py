"""DVC stage report: write report.md and its figures from metrics/ and plots/."""
from onehead.cli import main_report

if __name__ == "__main__":
    main_report()
