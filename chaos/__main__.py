from chaos.main import main

main()
