/// The OCI distribution client and content-addressed blob store (issue #5).
public enum OCI {}
