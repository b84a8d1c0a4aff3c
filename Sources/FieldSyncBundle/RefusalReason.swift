import FieldSyncCore

/// What a person is told of a refused bundle, at a hub or a site.
public enum RefusalReason {
    /// The message of a FieldSync error without the location it names (the log line names the file itself); for
    /// any other error, a generic phrase with the error's type, so that no system error text reaches a log.
    public static func of(_ error: any Error) -> String {
        switch error {
        case let error as BundleError: error.message
        case let error as StoreError: error.message
        case let error as SchemaError: error.message
        default: "the bundle could not be read (\(type(of: error)))"
        }
    }
}
