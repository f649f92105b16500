/* test_client_install.c -- `make install` as a user runs it: into a temporary PREFIX (and with
 * DESTDIR), the module, libslotguard (.a, .so with its soname and symlink), slotguard.h and
 * slotguard.pc land where hiredis puts its own; then a program built with
 * `pkg-config --cflags --libs slotguard` against that copy runs against a real server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slotguard_version.h"

static char prefix[64];
static char source_dir[PATH_MAX];

static int make_prefix(void **state) {
    (void)state;
    const char *dir = getenv("SG_SOURCE_DIR");
    if (dir == NULL) fail_msg("SG_SOURCE_DIR (the source tree to install from) is not set");
    snprintf(source_dir, sizeof(source_dir), "%s", dir);
    snprintf(prefix, sizeof(prefix), "/tmp/sg-install-XXXXXX");
    assert_non_null(mkdtemp(prefix));
    return 0;
}

static int remove_prefix(void **state) {
    (void)state;
    char command[PATH_MAX + 32];
    snprintf(command, sizeof(command), "rm -rf '%s'", prefix);
    return system(command) == 0 ? 0 : -1;
}

/* Run a shell command; its exit status. Output goes to out (malloc'ed) when out is not NULL. */
static int run(char **out, const char *format, ...) {
    char command[4096];
    va_list ap;
    va_start(ap, format);
    vsnprintf(command, sizeof(command), format, ap);
    va_end(ap);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            text = realloc(text, cap);
            assert_non_null(text);
        }
    }
    text[len] = '\0';
    int status = pclose(p);
    if (out) *out = text;
    else free(text);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_file(const char *path, int executable) {
    struct stat st;
    if (stat(path, &st) != 0) fail_msg("missing after install: %s", path);
    assert_true(S_ISREG(st.st_mode));
    if (executable) assert_true(st.st_mode & S_IXUSR);
}

static void install_puts_every_file_under_the_prefix(void **state) {
    (void)state;
    assert_int_equal(run(NULL, "make -s -C '%s' install PREFIX='%s' 2>&1", source_dir, prefix), 0);
    char path[PATH_MAX], soname[64], target[PATH_MAX];
    snprintf(soname, sizeof(soname), "libslotguard.so.%d.%d", SG_VERSION_MAJOR, SG_VERSION_MINOR);
    const char *files[] = {"lib/redis/modules/slotguard.so", "lib/libslotguard.a", "include/slotguard.h",
                           "include/slotguard_version.h", "lib/pkgconfig/slotguard.pc"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", prefix, files[i]);
        assert_file(path, i == 0);
    }
    snprintf(path, sizeof(path), "%s/lib/%s", prefix, soname);
    assert_file(path, 1);
    /* libslotguard.so is the link-time symlink to the soname, as for hiredis. */
    snprintf(path, sizeof(path), "%s/lib/libslotguard.so", prefix);
    ssize_t len = readlink(path, target, sizeof(target) - 1);
    assert_true(len > 0);
    target[len] = '\0';
    assert_string_equal(target, soname);
    char *dynamic = NULL;
    assert_int_equal(run(&dynamic, "readelf -d '%s/lib/%s'", prefix, soname), 0);
    char expected[128];
    snprintf(expected, sizeof(expected), "Library soname: [%s]", soname);
    assert_non_null(strstr(dynamic, expected));
    free(dynamic);
}

static void the_pc_file_names_the_prefix_and_the_version(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(run(&out, "PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config --modversion slotguard", prefix), 0);
    assert_true(strncmp(out, SG_VERSION_STRING "\n", strlen(SG_VERSION_STRING) + 1) == 0);
    free(out);
    assert_int_equal(run(&out, "PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config --cflags --libs slotguard", prefix), 0);
    char include[PATH_MAX + 8], lib[PATH_MAX + 8];
    snprintf(include, sizeof(include), "-I%s/include", prefix);
    snprintf(lib, sizeof(lib), "-L%s/lib", prefix);
    assert_non_null(strstr(out, include));
    assert_non_null(strstr(out, lib));
    assert_non_null(strstr(out, "-lslotguard"));
    assert_non_null(strstr(out, "-lhiredis")); /* Requires: hiredis */
    free(out);
}

static const char program[] =
    "#include <stdio.h>\n"
    "#include <slotguard.h>\n"
    "int main(int argc, char **argv) {\n"
    "    (void)argc;\n"
    "    sg_context *ctx = sg_connect_tcp(\"127.0.0.1\", atoi(argv[1]));\n"
    "    if (ctx == NULL || ctx->err) { fprintf(stderr, \"connect: %s\\n\", ctx ? ctx->errstr : \"oom\"); return 1; }\n"
    "    int created = 0;\n"
    "    sg_enroll_result result;\n"
    "    if (sg_trial_create(ctx, \"installed\", 9, 1, 0, &created) != SG_OK ||\n"
    "        sg_enroll(ctx, \"installed\", 9, \"patient-1\", 9, &result) != SG_OK) {\n"
    "        fprintf(stderr, \"%s\\n\", ctx->errstr);\n"
    "        return 1;\n"
    "    }\n"
    "    printf(\"%s %d.%d.%d enrolled %d\\n\", sg_version(), SG_VERSION_MAJOR, SG_VERSION_MINOR,\n"
    "           SG_VERSION_PATCH, result == SG_ENROLL_ENROLLED);\n"
    "    sg_free(ctx);\n"
    "    return 0;\n"
    "}\n";

static void a_program_built_with_pkg_config_runs_against_the_installed_copy(void **state) {
    (void)state;
    char source[PATH_MAX];
    snprintf(source, sizeof(source), "%s/program.c", prefix);
    FILE *f = fopen(source, "w");
    assert_non_null(f);
    fputs("#include <stdlib.h>\n", f);
    fputs(program, f);
    fclose(f);
    sg_server *server = sg_server_start(NULL);
    char *out = NULL;
    int status = run(&out,
                     "cd '%s' && cc -std=c11 -Wall -Wextra -Werror -o program program.c "
                     "$(PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config --cflags --libs slotguard) 2>&1",
                     prefix, prefix);
    if (status != 0) fail_msg("building against the installed copy failed:\n%s", out);
    free(out);
    /* Linked against the installed shared library, found through its soname. */
    char soname[64];
    snprintf(soname, sizeof(soname), "libslotguard.so.%d.%d", SG_VERSION_MAJOR, SG_VERSION_MINOR);
    assert_int_equal(run(&out, "cd '%s' && LD_LIBRARY_PATH='%s/lib' ldd ./program", prefix, prefix), 0);
    char expected_line[PATH_MAX + 128];
    snprintf(expected_line, sizeof(expected_line), "%s => %s/lib/%s", soname, prefix, soname);
    if (strstr(out, expected_line) == NULL) fail_msg("ldd does not show %s:\n%s", expected_line, out);
    free(out);
    for (int round = 0; round < 2; round++) {
        status = run(&out, "cd '%s' && LD_LIBRARY_PATH='%s/lib' ./program %d 2>&1", prefix, prefix, server->port);
        if (status != 0) fail_msg("the program failed:\n%s", out);
        char expected[64];
        snprintf(expected, sizeof(expected), "%s %d.%d.%d enrolled %d\n", SG_VERSION_STRING, SG_VERSION_MAJOR,
                 SG_VERSION_MINOR, SG_VERSION_PATCH, round == 0); /* the second run finds the trial full */
        assert_string_equal(out, expected);
        free(out);
    }
    sg_server_stop(server);
}

static void destdir_stages_the_install_under_another_root(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(run(NULL, "make -s -C '%s' install PREFIX=/opt/slotguard DESTDIR='%s/stage' 2>&1", source_dir,
                         prefix),
                     0);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/stage/opt/slotguard/include/slotguard.h", prefix);
    assert_file(path, 0);
    snprintf(path, sizeof(path), "%s/stage/opt/slotguard/lib/pkgconfig/slotguard.pc", prefix);
    assert_file(path, 0);
    assert_int_equal(run(&out, "grep '^prefix=' '%s'", path), 0);
    assert_string_equal(out, "prefix=/opt/slotguard\n"); /* DESTDIR is not part of the prefix */
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(install_puts_every_file_under_the_prefix),
        cmocka_unit_test(the_pc_file_names_the_prefix_and_the_version),
        cmocka_unit_test(a_program_built_with_pkg_config_runs_against_the_installed_copy),
        cmocka_unit_test(destdir_stages_the_install_under_another_root),
    };
    return cmocka_run_group_tests(tests, make_prefix, remove_prefix);
}
