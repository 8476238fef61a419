from sidecar_injector.cli import main

main()
