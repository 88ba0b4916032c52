/// A runtime step failed for an app: which app, what failed, what to do next.
public struct AppRuntimeError: Error, Sendable, CustomStringConvertible {
    public var app: String
    public var message: String
    public var nextStep: String?

    public init(app: String, _ message: String, next nextStep: String? = nil) {
        self.app = app
        self.message = message
        self.nextStep = nextStep
    }

    public var description: String {
        "app \(app): \(message)" + (nextStep.map { "; \($0)" } ?? "")
    }
}
