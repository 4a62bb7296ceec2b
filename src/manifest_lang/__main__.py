from manifest_lang.cli import main

main()
