/*
 * plugincheck.h - does a plugin directory hold what its manifest says?
 * Used by `plugin pack` (refuse to sign a broken plugin) and `plugin
 * install` (refuse to install one). Reads files only (elfinfo.h): the
 * library must be an ELF shared object for this host's architecture,
 * export a descriptor for an ABI this host runs (its major, a minor no
 * newer than its own, a size no smaller than 1.0's), and name the same
 * plugin, version and ABI as the manifest.
 */
#ifndef AH_PKG_PLUGINCHECK_H
#define AH_PKG_PLUGINCHECK_H

#include "plugin/manifest.h"

#include <stddef.h>

/* 0, or -1 with one line naming the library by its manifest name. */
int plugin_check(const manifest *m, char *err, size_t errlen);

#endif
