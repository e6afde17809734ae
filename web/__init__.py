"""The clinic server (Flask). Reads and writes through the station's store; never touches hardware."""
