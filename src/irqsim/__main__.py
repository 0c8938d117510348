from irqsim.cli import main

main()
