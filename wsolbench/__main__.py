from wsolbench.cli.main import main

main()
