"""``python cli.py ...`` from a checkout: the same CLI as the ``zoo`` command."""

from zoo.cli import main

if __name__ == "__main__":
    main()
