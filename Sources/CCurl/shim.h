#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H
// The type-checking macros wrap curl_easy_setopt in GCC builtins; the wrappers below are typed already.
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed wrapper per kind of
// argument FieldSync passes.

static inline CURLcode fieldsync_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode fieldsync_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode fieldsync_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode fieldsync_curl_setopt_list(CURL *handle, CURLoption option, struct curl_slist *list) {
    return curl_easy_setopt(handle, option, list);
}

static inline CURLcode fieldsync_curl_setopt_offset(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*fieldsync_curl_data_callback)(char *buffer, size_t size, size_t count, void *context);

static inline CURLcode fieldsync_curl_setopt_callback(
    CURL *handle, CURLoption option, fieldsync_curl_data_callback callback) {
    return curl_easy_setopt(handle, option, callback);
}

static inline CURLcode fieldsync_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

// CURL_GLOBAL_DEFAULT and CURL_ERROR_SIZE are macros.
static inline long fieldsync_curl_global_default(void) { return CURL_GLOBAL_DEFAULT; }
static inline int fieldsync_curl_error_size(void) { return CURL_ERROR_SIZE; }

#endif
