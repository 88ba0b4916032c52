/// Where a streamed response body goes, chunk by chunk (a digest-verifying blob writer, a file).
///
/// The client calls the methods on its transfer thread, one at a time, only while the
/// `HTTPClient.stream(_:to:progress:)` call that was given the sink is running; don't touch the
/// sink from elsewhere until that call returns. Only 2xx bodies reach a sink; an error status
/// fails the call with `HTTPError` instead.
public protocol HTTPBodySink: AnyObject {
    /// How many bytes of the body the sink already holds. When it is above 0 the client asks for
    /// the rest (`Range: bytes=<offset>-`). Read before every attempt, so a retry after a broken
    /// transfer resumes where the previous attempt stopped.
    var resumeOffset: Int64 { get }

    /// The response head arrived, before any body byte of this attempt. `offset` is where the
    /// coming bytes start: the requested resume offset when the server answered 206, or 0 when
    /// it sends the whole body — the sink must then drop whatever it held.
    func begin(_ head: HTTPResponseHead, at offset: Int64) throws

    /// The next chunk of the body. The buffer is only valid during the call.
    func write(_ chunk: UnsafeRawBufferPointer) throws

    /// The body is complete (the attempt succeeded).
    func finish() throws
}

extension HTTPBodySink {
    public var resumeOffset: Int64 { 0 }
    public func finish() throws {}
}
