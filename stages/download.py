"""DVC stage download: fill data/ from the offline mirror or the original hosts, verified."""
from onehead.cli import main_download

if __name__ == "__main__":
    main_download()
