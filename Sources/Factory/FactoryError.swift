/// A factory operation that failed, with what to do about it.
public struct FactoryError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
