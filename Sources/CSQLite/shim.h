#ifndef CSQLITE_SHIM_H
#define CSQLITE_SHIM_H
// sqlite3.h declares the session API only when these are defined; Debian's library is built with both.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#endif
