/* procfacts.h -- facts about processes and about this system.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* What a record of "who holds this" needs to name a process so that
   the record can later be checked: its pid, its start time (a pid is
   reused, a pid with its start time is not), and the system the pid
   belongs to (host, boot, pid namespace).  Read from /proc.  */

#ifndef ATOMICUTILS_PROCFACTS_H
#define ATOMICUTILS_PROCFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

enum { PROCFACTS_HOST_MAX = 255 };

/* Start time of process PID (field 22 of /proc/PID/stat, clock ticks
   after boot).  Return 0, or -1 with errno (ESRCH: no such process).  */
int process_start_time (pid_t pid, unsigned long long *start_time);

/* Our own pid and start time, in one read of /proc/self/stat, if it
   shows us: not where /proc is another pid namespace's (its field 1,
   the pid, is not ours, or it has no /proc/self for us).  Return 0,
   or -1 with errno (ENOENT: no /proc/self/stat, as without /proc;
   ESRCH: it is not ours).  */
int self_start_time (pid_t *pid, unsigned long long *start_time);

/* Is FD open on a file or directory of a proc filesystem?  Keeps
   errno.  */
bool fd_is_proc (int fd);

/* Is /proc mounted (a proc filesystem)?  Without it, no process can
   be named by its start time.  Keeps errno.  */
bool proc_mounted (void);

/* Has the process whose directory in /proc (/proc/PID) DIRFD is open
   on ended?  An open directory of /proc stays its process's: once that
   process has ended it has no files (ESRCH), even if its pid is given
   to another -- one started in the same clock tick, too, which a start
   time cannot tell apart.  */
bool process_dir_ended (int dirfd);

/* The parent of process PID, or 0 if unknown.  */
pid_t process_parent (pid_t pid);

/* Is descriptor FD of process PID open on the file *ST (same device and
   inode)?  */
bool process_fd_is_file (pid_t pid, int fd, struct stat const *st);

/* Does process PID have the file *ST (a pipe, say) open for reading?  */
bool process_reads (pid_t pid, struct stat const *st);

enum process_state { PROCESS_ALIVE, PROCESS_DEAD, PROCESS_UNKNOWN };

/* Is process PID, started at START_TIME (0: any start time), alive?
   Dead means: no such pid, a zombie, or another process with that pid
   (it started at a different time).  Where /proc cannot tell
   (hidepid), only kill's ESRCH proves death.  */
enum process_state process_state (pid_t pid, unsigned long long start_time);

/* The command line of process PID, as shell words, or "" if unknown.
   An overlong line ends in "...".  */
void process_command (pid_t pid, char *buf, size_t size);

/* The file this_boot_id reads.  */
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"

/* This boot's id (BOOT_ID_FILE), or "" if unknown.  */
char const *this_boot_id (void);

/* Why this_boot_id is "": the errno of reading that file (ENOENT
   under a /proc mounted with subset=pid, or without /proc; ENODATA if
   it was empty), or 0 if it was read.  */
int this_boot_id_errno (void);

/* The inode of this process's pid namespace: the pids we record and
   check are numbers in it.  0 if unknown.  */
unsigned long long this_pidns (void);

/* This host's name, as one printable line.  */
char const *this_host (void);

#endif
