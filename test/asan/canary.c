/* Positive control for scripts/asan.sh: built with the same -fsanitize flags as the addon and dlopen'ed by node
 * under the same LD_PRELOAD / ASAN_OPTIONS / UBSAN_OPTIONS as the tests, it must produce a report and a failing
 * exit. If it does not, the sanitizers are not active (or an option silences them) and a clean test run would
 * prove nothing. PETRA_CANARY picks the bug; the constructor runs at dlopen, before node asks for a module. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static volatile int sink;

__attribute__((constructor)) static void canary(void) {
  const char* kind = getenv("PETRA_CANARY");
  if (kind == NULL) return;
  if (strcmp(kind, "asan") == 0) {
    volatile size_t n = 8; /* opaque sizes, so that UBSan's object-size check leaves this one to ASan */
    volatile char* p = malloc(n); /* volatile: the store and the malloc/free pair must not be optimized away */
    p[n] = 1; /* heap-buffer-overflow */
    free((void*)p);
  } else if (strcmp(kind, "ubsan") == 0) {
    volatile int big = INT_MAX;
    sink = big + 1; /* signed integer overflow */
  }
}
