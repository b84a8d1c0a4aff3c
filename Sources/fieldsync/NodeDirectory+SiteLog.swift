import FieldSyncBundle
import FieldSyncCore
import FieldSyncSQLite
import FieldSyncSite

extension NodeDirectory {
    /// Writes a refusal for a file that could not even be read as a bundle (missing, cut short, not a bundle) into
    /// this node's log: the hub's refusals (under the file's name, its sender unknown) or the site's
    /// `_fieldsync_log`. Logging never hides the refusal itself, so a failure to log is ignored.
    func logUnreadableBundle(_ file: String, _ error: any Error) {
        switch configuration.role {
        case .hub:
            if let engine = try? hubEngine() {
                engine.logRefusal(of: (error as? BundleError)?.path ?? file, error: error)
            }
        case .site:
            logRefusalAtSite(error, files: [file])
        }
    }

    /// At a site, writes a `refused` line for a bundle file that could not even be grouped or read (missing, cut
    /// short, not a bundle) into the site's `_fieldsync_log`, which `fieldsync status` shows. Refusals inside the
    /// site engine log themselves. Does nothing at a hub, or if the database cannot be opened.
    func logRefusalAtSite(_ error: any Error, files: [String]) {
        guard configuration.role == .site, let database = configuration.database,
            let store = try? SiteStore(path: resolve(database))
        else { return }
        let file = files.count == 1 ? files[0] : "\(files.count) files"
        try? store.logRefusal(sequence: 0, file: file, reason: RefusalReason.of(error))
    }
}
