/// A database operation that failed: opening, a statement, a constraint, a transaction.
///
/// The message names the database file or connection, the table and the operation; SQL arguments and row
/// values are never part of it.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case open, statement, constraint, busy, schema, notFound, invalidState, connection
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The database could not be opened or created.
        public static let open = Code(.open)
        /// A statement failed to prepare or run.
        public static let statement = Code(.statement)
        /// A row broke a UNIQUE, NOT NULL, CHECK or foreign-key constraint.
        public static let constraint = Code(.constraint)
        /// The database stayed locked by another process.
        public static let busy = Code(.busy)
        /// A table or column is missing or has the wrong shape.
        public static let schema = Code(.schema)
        /// Something looked up does not exist.
        public static let notFound = Code(.notFound)
        /// The store is not in a state that allows the operation (for example not initialised).
        public static let invalidState = Code(.invalidState)
        /// The connection to the database server failed or was lost.
        public static let connection = Code(.connection)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The database file or connection name.
    public var location: String?
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, location: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.underlying = underlying
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}
