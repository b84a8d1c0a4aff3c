import FieldSyncTesting
import Testing

/// `fieldsync hub add-table` refuses names FieldSync keeps for itself, with a message naming them.
@Suite struct HubAddTableTests {
    @Test func reservedTableAndColumnNamesAreRefused() throws {
        let directory = try TemporaryDirectory(prefix: "fieldsync-add-table")
        let hub = directory.file("hub")
        let initialised = try FieldSyncCommand.run(["hub", "init", "--dir", hub, "--id", "hq"])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        for table in ["_fieldsync_state", "sqlite_sequence", "sync_control", "pg_class", "fieldsync_staging"] {
            let output = try FieldSyncCommand.run([
                "hub", "add-table", "--dir", hub, table, "--column", "id:text:notnull", "--primary-key", "id",
            ])
            #expect(output.status == 1, "\(table): \(output.stdout) \(output.stderr)")
            #expect(
                output.stderr.contains("'\(table)'") && output.stderr.contains("cannot be synced"), "\(output.stderr)")
        }
        // Adopting an existing table by a reserved name is refused the same way.
        let adopted = try FieldSyncCommand.run(["hub", "add-table", "--dir", hub, "_fieldsync_hub"])
        #expect(adopted.status == 1)
        #expect(adopted.stderr.contains("'_fieldsync_hub'"), "\(adopted.stderr)")
        let column = try FieldSyncCommand.run([
            "hub", "add-table", "--dir", hub, "notes", "--column", "id:text:notnull", "--column",
            "sync_version:integer", "--primary-key", "id",
        ])
        #expect(column.status == 1)
        #expect(column.stderr.contains("'sync_version'"), "\(column.stderr)")
        let status = try FieldSyncCommand.run(["status", "--dir", hub])
        #expect(!status.stdout.contains("notes"), "\(status.stdout)")
    }
}
