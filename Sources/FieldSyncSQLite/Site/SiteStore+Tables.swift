import FieldSyncCore
import Foundation

/// Which tables of an application database a site tracks, and which it leaves alone and why.
public struct SiteTableChoice: Sendable, Codable {
    /// A table left untracked, with the reason a person reads.
    public struct Skipped: Sendable, Codable, Hashable {
        public var table: String
        public var reason: String

        public init(table: String, reason: String) {
            self.table = table
            self.reason = reason
        }
    }

    /// Tables tracked from now on (newly and before), in apply order (parents first).
    public var tracked: [String]
    /// Tables tracked by this run only.
    public var added: [String]
    /// Tables left out, with why.
    public var skipped: [Skipped]
}

/// What kind of object a name in `sqlite_schema` is, as far as tracking goes.
enum SQLiteTableKind: Equatable {
    case table
    case view
    /// A virtual table (FTS3/4/5, R*Tree, …): its rows live in its module, not in the table.
    case virtual
    /// A table a virtual table keeps its data in (`x_fts_data`, `r_node`, …), named after that virtual table.
    case shadow(of: String)
}

extension SQLiteSchema {
    /// Every table and view of the main schema (without SQLite's own and FieldSync's bookkeeping) with its kind.
    ///
    /// Virtual tables are those whose `sqlite_schema.sql` is a `CREATE VIRTUAL TABLE`, and those `PRAGMA table_list`
    /// calls `virtual`. Shadow tables are those `PRAGMA table_list` calls `shadow` (SQLite 3.37 and later, for
    /// modules that declare them) and, whatever the version, any table named after a virtual table followed by one
    /// of the shadow suffixes FTS3/4/5, R*Tree and Geopoly use. Where `PRAGMA table_list` cannot be read (an older
    /// SQLite, or a virtual table whose module is not in this program), any table named after a virtual table
    /// followed by `_` counts as its shadow table.
    static func tableKinds(in connection: SQLiteConnection) throws -> [(name: String, kind: SQLiteTableKind)] {
        let objects = try connection.query(
            "SELECT name, type, coalesce(sql, '') FROM sqlite_schema WHERE type IN ('table', 'view') "
                + "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_fieldsync%' ESCAPE '\\' "
                + "ORDER BY name")
        var listed: [String: String] = [:]
        // PRAGMA table_list exists from SQLite 3.37; without it the schema text and the names decide alone.
        if let rows = try? connection.query("SELECT name, type FROM pragma_table_list WHERE schema = 'main'") {
            for row in rows {
                if let name = row[0].textValue, let type = row[1].textValue { listed[name] = type }
            }
        }
        var virtual = Set<String>()
        for object in objects {
            guard let name = object[0].textValue else { continue }
            let sql = (object[2].textValue ?? "").uppercased()
            let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).prefix(3)
            if words.elementsEqual(["CREATE", "VIRTUAL", "TABLE"]) || listed[name] == "virtual" {
                virtual.insert(name)
            }
        }
        let shadowSuffixes = [
            "content", "segments", "segdir", "docsize", "stat", "data", "idx", "config", "node", "parent", "rowid",
        ]
        return objects.compactMap { object in
            guard let name = object[0].textValue else { return nil }
            if object[1].textValue == "view" { return (name, .view) }
            if virtual.contains(name) { return (name, .virtual) }
            let owner = virtual.filter { owner in
                shadowSuffixes.contains { name.lowercased() == (owner + "_" + $0).lowercased() }
            }.first
            if let owner { return (name, .shadow(of: owner)) }
            let prefix = virtual.filter { name.hasPrefix($0 + "_") }.max { $0.count < $1.count }
            if listed[name] == "shadow" { return (name, .shadow(of: prefix ?? "?")) }
            // Without PRAGMA table_list (older SQLite, or a virtual table whose module this program lacks, which
            // makes the pragma fail), any table named after a virtual table is taken for one of its shadow tables:
            // writing a shadow table behind its module's back corrupts it.
            if listed.isEmpty, let prefix { return (name, .shadow(of: prefix)) }
            return (name, .table)
        }
    }
}

extension SiteStore {
    /// Chooses the tables to track, reading only.
    ///
    /// With `requested`, every name must be a table FieldSync can track, and every table its foreign keys refer to
    /// must be requested too or tracked already; otherwise nothing is chosen and the error says what to do. With
    /// `requested` `nil`, every trackable table is chosen and the others are skipped with the reason, as is a table
    /// whose foreign key refers to a table that is skipped (or to one that does not exist).
    ///
    /// - Parameter tracked: tables tracked already (by an earlier run); they stay tracked.
    /// - Throws: ``StoreError`` with `.schema` naming the table and the reason.
    static func chooseTables(requested: [String]?, tracked: [String], connection: SQLiteConnection) throws
        -> (schemas: [TableSchema], skipped: [SiteTableChoice.Skipped])
    {
        let kinds = Dictionary(try SQLiteSchema.tableKinds(in: connection).map { ($0.name, $0.kind) }) { a, _ in a }
        var candidates: [TableSchema] = []
        var skipped: [SiteTableChoice.Skipped] = []
        var seen = Set<String>()
        let names = (requested ?? kinds.keys.sorted()).filter { seen.insert($0).inserted }
        for name in names where !tracked.contains(name) {
            do {
                candidates.append(try trackable(name, kinds: kinds, connection: connection))
            } catch let error as StoreError {
                guard requested == nil else { throw error }
                // The list names the table already.
                let prefix = "table '\(name)' "
                let reason =
                    error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
                skipped.append(.init(table: name, reason: reason))
            }
        }
        // Foreign keys: a child tracked without its parent would receive rows whose parent never arrives.
        var chosen = Set(candidates.map(\.name)).union(tracked)
        var changed = true
        while changed {
            changed = false
            for schema in candidates where chosen.contains(schema.name) && !tracked.contains(schema.name) {
                for parent in try parents(of: schema.name, connection: connection) where !chosen.contains(parent) {
                    let why = skipped.first { $0.table == parent }.map { " (\($0.reason))" } ?? ""
                    let exists = kinds[parent] != nil
                    if requested != nil {
                        throw StoreError(
                            .schema,
                            "table '\(schema.name)' has a foreign key to '\(parent)', which would not be tracked"
                                + (exists ? "" : " (it does not exist)")
                                + ": add --table \(parent) to track both, or leave '\(schema.name)' out",
                            location: connection.path)
                    }
                    chosen.remove(schema.name)
                    skipped.append(
                        .init(
                            table: schema.name,
                            reason: "its foreign key refers to '\(parent)', which is not tracked"
                                + (exists ? why : " (it does not exist)")
                                + "; rows could arrive without their parent"))
                    changed = true
                    break
                }
            }
        }
        let schemas = try SQLiteSchema.ordered(
            candidates.filter { chosen.contains($0.name) }, connection: connection)
        return (schemas, skipped.sorted { $0.table < $1.table })
    }

    /// The tables `table`'s foreign keys refer to (not itself).
    static func parents(of table: String, connection: SQLiteConnection) throws -> [String] {
        let rows = try connection.query("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)", [.text(table)])
        return rows.compactMap { $0[0].textValue }.filter { $0 != table }.sorted()
    }

    /// The schema of `name` if FieldSync can track it.
    ///
    /// - Throws: ``StoreError`` with `.schema` saying why not: missing, a view, a virtual or shadow table, a name
    ///   FieldSync cannot carry or keeps for itself, no primary key, a reserved column, a BLOB key column.
    static func trackable(_ name: String, kinds: [String: SQLiteTableKind], connection: SQLiteConnection) throws
        -> TableSchema
    {
        func refuse(_ reason: String) -> StoreError {
            StoreError(.schema, "table '\(name)' \(reason)", location: connection.path)
        }
        if let reason = Identifier.reservedTableReason(name) {
            throw StoreError(.schema, "table \(reason) and cannot be tracked", location: connection.path)
        }
        switch kinds[name] {
        case nil:
            // SQLite finds a table whatever the capitals; FieldSync carries names exactly as the database has them.
            let spelled = kinds.keys.filter { $0.lowercased() == name.lowercased() }.sorted().first
            throw refuse("does not exist" + (spelled.map { "; did you mean '\($0)'?" } ?? ""))
        case .view?:
            throw refuse("is a view: FieldSync tracks the tables a view reads, not the view")
        case .virtual?:
            throw refuse(
                "is a virtual table (a full-text or spatial index, for example): its module keeps its rows; "
                    + "FieldSync tracks the ordinary tables it is built from, never the virtual table")
        case .shadow(let owner)?:
            throw refuse(
                "is where the virtual table '\(owner)' keeps its data: only SQLite may write it, so FieldSync "
                    + "never tracks it")
        case .table?:
            break
        }
        guard Identifier.isValidSQLName(name) else {
            throw refuse(
                "has a name FieldSync cannot carry: \(Identifier.sqlNameRule). Rename the table (ALTER TABLE … "
                    + "RENAME TO …) to sync it")
        }
        let schema: TableSchema
        do {
            schema = try SQLiteSchema.read(table: name, from: connection)
            try schema.checkSyncable()
        } catch let error as StoreError {
            throw StoreError(
                error.code, error.message.contains("'\(name)'") ? error.message : "table '\(name)': \(error.message)",
                location: connection.path)
        } catch let error as SchemaError {
            var message = error.message
            if error.code == .invalidName { message += ". Rename the column to sync the table" }
            throw StoreError(.schema, message, location: connection.path, underlying: error)
        }
        for key in schema.primaryKeyIndexes where schema.columns[key].type == .blob {
            throw refuse(
                "has a BLOB primary-key column '\(schema.columns[key].name)': FieldSync identifies rows by key values "
                    + "it can carry as text and numbers; give the table a key of another type or leave it out")
        }
        return schema
    }

    /// Starts tracking `names` at a site that is tracked already: checks them as `site init --table` does
    /// (a foreign-key parent must be tracked or named too), installs their capture triggers and enrols their
    /// existing rows, which travel in the next export. Tables tracked already are left as they are.
    ///
    /// - Throws: ``StoreError`` naming the table and the reason; nothing is changed then.
    public func addTables(_ names: [String]) throws -> SiteTableChoice {
        try connection.withTransaction {
            let tracked = try tables().map(\.name)
            let chosen = try Self.chooseTables(requested: names, tracked: tracked, connection: connection)
            var position = Int(try connection.integer("SELECT coalesce(max(position) + 1, 0) FROM _fieldsync_tables"))
            for schema in chosen.schemas {
                try Self.track(schema, position: position, connection: connection)
                position += 1
                try connection.run("DELETE FROM _fieldsync_untracked WHERE tbl = ?", [.text(schema.name)])
            }
            try log(
                "add-table", sequence: 0, rows: 0, status: "ok",
                message: "now tracking " + chosen.schemas.map(\.name).joined(separator: ", "))
            return SiteTableChoice(
                tracked: try tables().map(\.name), added: chosen.schemas.map(\.name), skipped: chosen.skipped)
        }
    }
}
