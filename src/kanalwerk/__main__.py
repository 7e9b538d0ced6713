from kanalwerk.cli import main

main()
