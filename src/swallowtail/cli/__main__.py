from swallowtail.cli import main

main()
