/// Boot counting and upgrade flags behind one protocol, a backend per bootloader (issue #6).
public enum BootloaderModule {}
