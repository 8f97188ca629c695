"""DVC stage download: fill data/ from the offline mirror or the original hosts, verified."""
from onehead.data.download import main

if __name__ == "__main__":
    main()
