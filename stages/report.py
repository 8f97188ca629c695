"""DVC stage report: write report.md and its figures from metrics/ and plots/."""
from onehead.report.build import main

if __name__ == "__main__":
    main()
