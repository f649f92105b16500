/* slotguard_version.h -- the one place SlotGuard's version is written.
 *
 * The module reports it in MODULE LIST (`ver`, as SG_VERSION_NUMBER: 0.1.0 is 100, 1.2.3 would be
 * 10203); the client library gives it as SG_VERSION_* and sg_version(); the Makefile reads the
 * three numbers below for the library's soname and slotguard.pc. A command's COMMAND DOCS `since`
 * is the version that introduced it, never above this one. Plain macros: included by slotguard.h
 * (and installed beside it) and by the module's glue. */
#ifndef SLOTGUARD_VERSION_H
#define SLOTGUARD_VERSION_H

#define SG_VERSION_MAJOR 0
#define SG_VERSION_MINOR 5
#define SG_VERSION_PATCH 0

#define SG_VERSION_NUMBER (SG_VERSION_MAJOR * 10000 + SG_VERSION_MINOR * 100 + SG_VERSION_PATCH)
#define SG_VERSION_TEXT_(x) #x
#define SG_VERSION_TEXT(x) SG_VERSION_TEXT_(x)
#define SG_VERSION_STRING                                                                                   \
    SG_VERSION_TEXT(SG_VERSION_MAJOR) "." SG_VERSION_TEXT(SG_VERSION_MINOR) "." SG_VERSION_TEXT(SG_VERSION_PATCH)

#endif
