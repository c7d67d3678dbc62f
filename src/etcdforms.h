/* etcdforms.h -- lockdir's forms on a lock in etcd.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#ifndef ATOMICUTILS_ETCDFORMS_H
#define ATOMICUTILS_ETCDFORMS_H

#include "etcdopts.h"

/* Run the form OPT->form on the etcd lock NAME (already checked), with
   COMMAND (NULL-terminated, possibly empty).  Return the exit status,
   or die of a signal that came while waiting (having left the queue).

   With COMMAND, lockdir holds the lock itself: it renews the lease
   every third of its TTL while COMMAND runs, passes signals on, and
   stops COMMAND (SIGTERM, then SIGKILL) before the lease can have
   expired when it cannot renew it.

   Without COMMAND, the lock is held for the caller (or --owner-pid) by
   a keeper: a process of its own session that renews the lease while
   the owner lives, and revokes it when the owner exits.  'lockdir -u'
   finds the keeper through an abstract socket named after the owner
   (pid and start time) and the lock, and asks it to revoke; a keeper
   that had lost the lock says so.  */
int etcd_run_form (char const *name, char **command,
                   struct etcd_options const *opt);

#endif
