from seedance_async.cli import main

main()
