#!/bin/sh
# valgrind-server.sh -- redis-server under memcheck, for the integration harness (SG_REDIS_SERVER).
#
# The harness runs this in place of redis-server with the same arguments; it execs valgrind, so the
# harness's pid, signals (SIGTERM to stop, SIGKILL) and exit status are the server's. Every process
# writes its own log, vg.<pid>.log in $SG_VALGRIND_LOG_DIR: the server, and each child it forks
# (BGSAVE, BGREWRITEAOF, full sync), whose log names the server as "Parent PID".
#
# Environment:
#   SG_VALGRIND_LOG_DIR       where the logs go (default /tmp); scripts/valgrind-test.sh sets one
#                             per test binary and reads them afterwards
#   SG_VALGRIND_REDIS_SERVER  the real redis-server (default: redis-server from PATH)
#   SG_VALGRIND               the valgrind binary (default: valgrind from PATH)
#   SG_VALGRIND_FLAGS         more valgrind flags, after these (e.g. --track-origins=yes)
#
# Flags:
#   --soname-synonyms=somalloc=*jemalloc*  Debian's redis-server calls malloc/free of the system
#       libjemalloc.so.2, as does the module through RedisModule_Alloc (zmalloc); without this,
#       memcheck would replace only libc's malloc and see none of those blocks.
#   --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite  only definite
#       leaks matter: at exit Redis still holds its whole dataset and config (reachable), and
#       pointers into the middle of sds strings and dict entries look "possibly" lost.
#   --track-origins=no  halves the slowdown; rerun with yes by hand to find where an uninitialised
#       value came from.
#   --keep-debuginfo=yes  stacks through the module stay readable even if it is unloaded.
#   --error-exitcode=99  for runs by hand; the harness does not look at the exit status.
here=$(cd "$(dirname "$0")" && pwd)
log_dir=${SG_VALGRIND_LOG_DIR:-/tmp}
exec "${SG_VALGRIND:-valgrind}" --tool=memcheck \
    --soname-synonyms='somalloc=*jemalloc*' \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --track-origins=no --num-callers=40 --keep-debuginfo=yes \
    --error-exitcode=99 \
    --suppressions="$here/valgrind.supp" \
    --log-file="$log_dir/vg.%p.log" ${SG_VALGRIND_FLAGS:-} \
    "${SG_VALGRIND_REDIS_SERVER:-redis-server}" "$@"
