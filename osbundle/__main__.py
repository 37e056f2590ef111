from osbundle.cli import main

main()
