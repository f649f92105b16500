/* slotguard.c -- the module's entry point: the one file that knows every command family.
 *
 * Each family is one pure core (trial.c, lock.c, idemp.c, sharded.c, rate.c) and one glue file
 * (enroll_commands.c, lock_commands.c, idemp_commands.c, sharded_commands.c,
 * rate_commands.c) that defines an sg_family; a new family is one more entry in
 * the list below. Everything the glue files share lives in glue.c, which knows no family. */
#include "glue.h"

extern const sg_family enroll_family, lock_family, idemp_family, sharded_family, rate_family;
static const sg_family *const families[] = {&enroll_family, &lock_family, &idemp_family, &sharded_family,
                                            &rate_family};

static void info_callback(RedisModuleInfoCtx *ctx, int for_crash_report) {
    (void)for_crash_report;
    for (size_t i = 0; i < SG_COUNT(families); i++) {
        if (RedisModule_InfoAddSection(ctx, families[i]->name) == REDISMODULE_ERR) continue;
        families[i]->info(ctx);
    }
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    if (RedisModule_Init(ctx, SG_MODULE_NAME, SG_VERSION_NUMBER, REDISMODULE_APIVER_1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (argc != 0) {
        RedisModule_Log(ctx, "warning", "slotguard takes no module arguments (got %d)", argc);
        return REDISMODULE_ERR;
    }
    /* Loading keys from a truncated RDB must fail cleanly, not abort; and WATCH is invalidated
     * only by commands that really changed a key. */
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS |
                                          REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED);
    sg_use_module_allocator();
    for (size_t i = 0; i < SG_COUNT(families); i++) {
        if (families[i]->on_load(ctx) == REDISMODULE_ERR) {
            RedisModule_Log(ctx, "warning", "could not load the %s family", families[i]->name);
            return REDISMODULE_ERR;
        }
    }
    if (RedisModule_RegisterInfoFunc(ctx, info_callback) == REDISMODULE_ERR) return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
