from wsolbench.cli.entry import main

main()
