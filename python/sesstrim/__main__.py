# python -m sesstrim ...: the command line (sesstrim/_runner.py).
import sys

from sesstrim._runner import main

sys.exit(main(sys.argv[1:]))
