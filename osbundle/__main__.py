from osbundle.cli.app import main

main()
