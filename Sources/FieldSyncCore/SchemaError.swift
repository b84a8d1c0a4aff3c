/// A table schema that FieldSync cannot use: a bad name, a missing primary key, an unknown type.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case invalidName, reservedName, duplicateColumn, missingPrimaryKey, unsupportedType, unknownTable,
                valueMismatch
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let invalidName = Code(.invalidName)
        public static let reservedName = Code(.reservedName)
        public static let duplicateColumn = Code(.duplicateColumn)
        public static let missingPrimaryKey = Code(.missingPrimaryKey)
        public static let unsupportedType = Code(.unsupportedType)
        public static let unknownTable = Code(.unknownTable)
        public static let valueMismatch = Code(.valueMismatch)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var table: String?
    public var column: String?
    public var message: String

    public init(_ code: Code, table: String? = nil, column: String? = nil, message: String) {
        self.code = code
        self.table = table
        self.column = column
        self.message = message
    }

    public var description: String { message }
}
