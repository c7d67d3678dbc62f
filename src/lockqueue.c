/* lockqueue.c -- the queue in front of a dirlock: first come, first
   served, with shared and exclusive requests in one line.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* See lockqueue.h for the protocol.  */

#include <config.h>

#include "lockqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c-ctype.h"
#include "error.h"
#include "quote.h"
#include "stat-time.h"
#include "timespec.h"
#include "xalloc.h"
#include "xvasprintf.h"


enum
{
  /* A ticket's command line is cut here, so that its whole record fits
     in a symbolic link's target on every filesystem.  */
  TICKET_COMMAND_MAX = 1023,
  /* The longest ticket record we read.  */
  TICKET_RECORD_MAX = 4095,
  /* Polling where inotify cannot see (other hosts' changes).  */
  BACKOFF_START_MS = 1,
  BACKOFF_CAP_MS = 250,
  REMOTE_BACKOFF_CAP_MS = 1000
};

/* --- ticket names ---------------------------------------------------- */

/* A ticket's name, taken apart.  */
struct ticket_name
{
  uintmax_t number;
  bool shared;
  size_t id_offset;                  /* where the ID starts in NAME */
  char name[LOCKQUEUE_TICKET_MAX + 1];
};

static char const *
ticket_id (struct ticket_name const *t)
{
  return t->name + t->id_offset;
}

/* Parse NAME ("N.x.ID" or "N.s.ID") into *T.  Return false if NAME is
   not a ticket's.  */
static bool
parse_ticket_name (char const *name, struct ticket_name *t)
{
  if (strlen (name) > LOCKQUEUE_TICKET_MAX || !c_isdigit (name[0]))
    return false;
  char const *p = name;
  uintmax_t n = 0;
  for (; c_isdigit (*p); p++)
    {
      if (n > (UINTMAX_MAX - 9) / 10)
        return false;
      n = n * 10 + (*p - '0');
    }
  if (p[0] != '.' || (p[1] != 'x' && p[1] != 's') || p[2] != '.'
      || !dirlock_valid_id (p + 3))
    return false;
  t->number = n;
  t->shared = p[1] == 's';
  strcpy (t->name, name);
  t->id_offset = p + 3 - name;
  return true;
}

/* Queue order: by number, then by ID.  */
static int
compare_tickets (void const *a, void const *b)
{
  struct ticket_name const *x = a, *y = b;
  if (x->number != y->number)
    return x->number < y->number ? -1 : 1;
  return strcmp (ticket_id (x), ticket_id (y));
}

/* Open the queue QNAME of PARENT and list its tickets in order into
   *TICKETS (free it) and *COUNT.  Return the queue's descriptor, -1 with
   errno 0 if there is no queue, or -1 with errno on error.  */
static int
scan_queue (struct parent_dir const *parent, char const *qname,
            struct ticket_name **tickets, size_t *count)
{
  *tickets = NULL;
  *count = 0;
  int fd;
  DIR *dir = opendir_at (parent->fd, qname, &fd);
  if (!dir)
    {
      if (errno == ENOENT)
        errno = 0;
      else if (errno == ELOOP)
        errno = ENOTDIR;
      return -1;
    }
  size_t alloc = 0;
  struct ticket_name *v = NULL;
  struct dirent *e;
  /* errno tells the end from a failure (EIO): a queue read in part
     would give a newcomer a number ahead of the waiters not read, and
     a waiter a place ahead of its turn.  */
  while ((errno = 0, e = readdir (dir)))
    {
      struct ticket_name t;
      if (!parse_ticket_name (e->d_name, &t))
        {
          /* A ticket being retired ('.' and its name: see
             lockqueue_remove_holding), left behind if its remover was
             killed between the rename and the unlink.  */
          if (e->d_name[0] == '.' && parse_ticket_name (e->d_name + 1, &t))
            unlinkat (fd, e->d_name, 0);
          continue;
        }
      if (*count == alloc)
        v = x2nrealloc (v, &alloc, sizeof *v);
      v[(*count)++] = t;
    }
  int read_errno = errno;
  closedir (dir);
  if (read_errno != 0)
    {
      close (fd);
      free (v);
      *count = 0;
      errno = read_errno;
      return -1;
    }
  qsort (v, *count, sizeof *v, compare_tickets);
  *tickets = v;
  return fd;
}

/* Read the ticket NAME in the queue DIR_FD into *T.  Return 0, or -1
   with errno (ENOENT: it is gone; EINVAL: not a symbolic link).  */
static int
read_ticket (int dir_fd, struct ticket_name const *name,
             struct dirlock_owner *t)
{
  char text[TICKET_RECORD_MAX + 1];
  ssize_t n = readlinkat (dir_fd, name->name, text, sizeof text - 1);
  if (n < 0)
    return -1;
  text[n] = '\0';
  dirlock_parse_record (text, t);
  /* The name is the truth about the place and the kind.  */
  copy_one_line (t->id, sizeof t->id, ticket_id (name));
  strcpy (t->ticket, name->name);
  t->shared = name->shared;
  struct stat st;
  if (fstatat (dir_fd, name->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return -1;
  t->heartbeat = get_stat_mtime (&st);
  return 0;
}

/* Remove the queue QNAME of PARENT if it is empty.  */
static void
remove_queue_if_empty (struct parent_dir const *parent, char const *qname)
{
  /* ENOTEMPTY (someone still queues) and ENOENT are both fine.  */
  unlinkat (parent->fd, qname, AT_REMOVEDIR);
}

static bool
queue_name (struct parent_dir const *parent, char *buf, size_t size)
{
  int n = snprintf (buf, size, "%s" LOCKQUEUE_SUFFIX, parent->base);
  if (n < 0 || (size_t) n >= size || n > NAME_MAX)
    {
      errno = ENAMETOOLONG;
      return false;
    }
  return true;
}

/* --- one waiter ------------------------------------------------------ */

bool
lockqueue_init (struct lockqueue *q, struct parent_dir const *parent,
                struct dirlock_owner const *self)
{
  q->parent = parent;
  q->self = self;
  q->ticket[0] = q->ahead[0] = '\0';
  q->ticket_dir_fd = q->ahead_dir_fd = q->inotify_fd = -1;
  q->cleanup.slot = q->cleanup_queue.slot = -1;
  q->next_beat = infinite_duration;
  q->beat_warned = q->dead_warned = false;
  q->backoff_ms = BACKOFF_START_MS;
  q->unread[0] = '\0';
  q->unwritable = false;
  return queue_name (parent, q->name, sizeof q->name);
}

bool
lockqueue_queued (struct lockqueue const *q)
{
  return q->ticket[0] != '\0';
}

struct timespec
lockqueue_beat_due (struct lockqueue const *q)
{
  return lockqueue_queued (q) ? q->next_beat : infinite_duration;
}

/* With a lease, our ticket must look alive: touch it every third of the
   lease, as a holder touches its owner file.  */
static void
schedule_beat (struct lockqueue *q)
{
  if (!dirlock_has_lease (q->self))
    return;
  q->next_beat = deadline_after (duration_divided (q->self->lease, 3));
}

/* The ticket NAME of Q's queue as the user finds it (malloc'd).  */
static char *
ticket_shown (struct lockqueue const *q, char const *name)
{
  char *in_queue = xasprintf ("%s/%s", q->name, name);
  char *shown = path_in_parent (q->parent, in_queue);
  free (in_queue);
  return shown;
}

static void
beat_if_due (struct lockqueue *q)
{
  if (!lockqueue_queued (q) || !deadline_passed (q->next_beat))
    return;
  if (utimensat (q->ticket_dir_fd, q->ticket, NULL, AT_SYMLINK_NOFOLLOW)
      != 0 && errno != ENOENT && !q->beat_warned)
    {
      /* Past its lease, the ticket looks dead: the waiter behind us
         removes it, and we queue again at the back.  Say so, once.
         (ENOENT: that happened already; lockqueue_turn sees to it.)  */
      int beat_errno = errno;
      char *shown = ticket_shown (q, q->ticket);
      error (0, beat_errno, "warning: cannot refresh the time of the "
             "ticket %s, which then looks dead once its lease passes",
             quoteaf (shown));
      free (shown);
      q->beat_warned = true;
    }
  schedule_beat (q);
}

/* Our ticket is no longer ours to remove (taken by the holding, or
   gone): forget it.  */
static void
drop_ticket (struct lockqueue *q)
{
  temp_forget (&q->cleanup);
  temp_forget (&q->cleanup_queue);
  if (q->ticket_dir_fd >= 0)
    close (q->ticket_dir_fd);
  q->ticket_dir_fd = -1;
  q->ticket[0] = '\0';
  q->next_beat = infinite_duration;
}

/* After scan_queue failed (errno not 0): name Q's queue in Q->unread,
   unless it is not a directory, which is said otherwise.  Keep errno.  */
static void
queue_unread (struct lockqueue *q)
{
  if (errno != ENOTDIR)
    strcpy (q->unread, q->name);
}

/* After the queue of Q could not be made, or a ticket put in it: name
   it in Q->unread, so that the failure is not taken for LOCK's own,
   unless the filesystem has no symbolic links, which is said
   otherwise.  Keep errno.  */
static void
queue_unwritable (struct lockqueue *q)
{
  if (errno != EOPNOTSUPP)
    {
      strcpy (q->unread, q->name);
      q->unwritable = true;
    }
}

/* From now on, name our ticket NAME if a signal cannot remove it.  */
static void
warn_if_ticket_left (struct lockqueue *q, char const *name)
{
  char *in_queue = xasprintf ("%s/%s", q->name, name);
  char *shown = path_in_parent (q->parent, in_queue);
  temp_warn_if_left (&q->cleanup, shown);
  free (shown);
  free (in_queue);
}

int
lockqueue_enter (struct lockqueue *q)
{
  q->unread[0] = '\0';
  q->unwritable = false;
  /* The record, as the owner record will be, stamped with the time we
     queue, its command cut to fit a symbolic link.  */
  struct dirlock_owner *t = xmalloc (sizeof *t);
  *t = *q->self;
  dirlock_stamp_now (t->acquired, sizeof t->acquired);
  copy_one_line (t->command, TICKET_COMMAND_MAX + 1, q->self->command);
  /* The script form: the owner (the script) outlives us if we are
     killed (SIGKILL) and cannot remove the ticket; naming ourselves
     lets the others see that it waits no more.  */
  pid_t self_pid;
  unsigned long long start_time;
  if (t->pid != getpid ()
      && self_start_time (&self_pid, &start_time) == 0)
    {
      t->waiter_pid = self_pid;
      t->waiter_start_time = start_time;
    }
  char *record = xmalloc (TICKET_RECORD_MAX + 1);
  size_t len = dirlock_format_record (t, record, TICKET_RECORD_MAX + 1);
  record[len] = '\0';
  free (t);

  int result;
  for (;;)
    {
      if (mkdirat (q->parent->fd, q->name, S_IRWXU | S_IRWXG | S_IRWXO) != 0
          && errno != EEXIST)
        {
          queue_unwritable (q);
          result = -1;
          break;
        }
      struct ticket_name *tickets;
      size_t count;
      int fd = scan_queue (q->parent, q->name, &tickets, &count);
      if (fd < 0)
        {
          if (errno == 0)
            continue;   /* removed by the last waiter leaving: again */
          queue_unread (q);
          result = -1;
          break;
        }
      uintmax_t number = count ? tickets[count - 1].number + 1 : 1;
      free (tickets);
      char name[LOCKQUEUE_TICKET_MAX + 1];
      snprintf (name, sizeof name, "%010ju.%c.%s", number,
                q->self->shared ? 's' : 'x', q->self->id);

      /* One call publishes the ticket complete; registering it for
         removal must not be separated from that by a signal.  */
      block_cleanup_signals ();
      int r = symlinkat (record, fd, name);
      int err = errno;
      if (r == 0)
        {
          /* A signal takes the ticket away, and the queue if that
             leaves it empty (a waiter coming meanwhile gets ENOENT, and
             starts again).  */
          temp_adopt (&q->cleanup, fd, name, TEMP_SYMLINK);
          /* Removed by us, the ticket's waiter may live on (the
             script form: its record names the script): retire it.  */
          temp_retire_on_removal (&q->cleanup);
          /* A ticket a signal cannot remove is said, as one that
             lockqueue_leave cannot; the queue left is not.  */
          warn_if_ticket_left (q, name);
          temp_adopt (&q->cleanup_queue, q->parent->fd, q->name, TEMP_DIR);
        }
      unblock_cleanup_signals ();
      if (r == 0)
        {
          q->ticket_dir_fd = fd;
          strcpy (q->ticket, name);
          schedule_beat (q);
          result = 0;
          break;
        }
      close (fd);
      /* ENOENT: the queue was removed after we opened it.  */
      if (err == ENOENT)
        continue;
      if (err == EPERM || err == ENOSYS || err == ENOTSUP)
        err = EOPNOTSUPP;
      /* Leave no empty queue behind.  */
      remove_queue_if_empty (q->parent, q->name);
      errno = err;
      queue_unwritable (q);
      result = -1;
      break;
    }
  int saved_errno = errno;
  free (record);
  errno = saved_errno;
  return result;
}

int
lockqueue_turn (struct lockqueue *q)
{
  beat_if_due (q);
  if (q->ahead_dir_fd >= 0)
    close (q->ahead_dir_fd);
  q->ahead_dir_fd = -1;
  q->ahead[0] = '\0';
  q->unread[0] = '\0';

  for (;;)
    {
      struct ticket_name *tickets;
      size_t count;
      int fd = scan_queue (q->parent, q->name, &tickets, &count);
      if (fd < 0 && errno != 0)
        {
          queue_unread (q);
          return -1;
        }

      /* Our place: our ticket's, or behind everyone without one.  */
      size_t place = count;
      if (lockqueue_queued (q))
        {
          for (place = 0; place < count; place++)
            if (strcmp (tickets[place].name, q->ticket) == 0)
              break;
          if (place == count)
            {
              /* Our ticket is gone: someone judged it dead (we were
                 stopped past our lease) or removed it by hand.  Queue
                 again, at the back.  */
              free (tickets);
              if (fd >= 0)
                close (fd);
              drop_ticket (q);
              if (lockqueue_enter (q) != 0)
                return -1;
              continue;
            }
        }

      /* The nearest ticket ahead that stands in our way: any, for an
         exclusive request; an exclusive one, for a shared request.  A
         shared request judges the shared tickets it passes too: with
         only shared requests behind it, a dead one would otherwise
         stay until an exclusive request came.  */
      bool removed = false;
      for (size_t i = place; i-- > 0; )
        {
          struct dirlock_owner *t = &q->ahead_owner;
          if (read_ticket (fd, &tickets[i], t) != 0)
            {
              /* Gone already, or not a ticket at all.  */
              if (errno == ENOENT || errno == EINVAL)
                continue;
              int saved_errno = errno;
              /* Named, as --status names it.  */
              snprintf (q->unread, sizeof q->unread, "%s/%s", q->name,
                        tickets[i].name);
              free (tickets);
              close (fd);
              errno = saved_errno;
              return -1;
            }
          /* A ticket from another boot of this host is dead too.  It
             may instead be another host's of the same name, sharing
             the directory: removing a live waiter's ticket costs it
             only its place (it queues again at the back), never the
             exclusion, which is the lock's.  A holding is judged more
             strictly: dirlock keeps such a lock until --break.  */
          bool holding;
          if (dirlock_ticket_stale_reason (q->parent, t, &holding))
            {
              /* Its waiter is dead: exactly one of those who find it so
                 removes it.  One that cannot be removed (EIO) is passed
                 over all the same, and judged again by every waiter
                 each time: say so, once.  */
              if (unlinkat (fd, tickets[i].name, 0) != 0 && errno != ENOENT
                  && !q->dead_warned)
                {
                  int dead_errno = errno;
                  char *shown = ticket_shown (q, tickets[i].name);
                  error (0, dead_errno, "warning: cannot remove the ticket "
                         "%s of a dead waiter", quoteaf (shown));
                  free (shown);
                  q->dead_warned = true;
                }
              removed = true;
              continue;
            }
          /* The ticket of a live holding whose waiting process has
             exited, or whose heartbeat went to its owner record: it
             stays until the holding ends, but has nothing to sleep on.
             The lock is what stands in our way: watch it.  */
          if (holding)
            continue;
          /* A shared request goes in together with the shared ones.  */
          if (q->self->shared && tickets[i].shared)
            continue;
          strcpy (q->ahead, tickets[i].name);
          q->ahead_dir_fd = fd;
          free (tickets);
          return QUEUE_BEHIND;
        }
      free (tickets);
      if (fd >= 0)
        close (fd);
      /* An empty queue left by a waiter that was killed goes too.  */
      if ((removed || count == 0) && fd >= 0 && !lockqueue_queued (q))
        remove_queue_if_empty (q->parent, q->name);
      return QUEUE_OUR_TURN;
    }
}

/* Is the ticket Q->ahead gone?  */
static bool
ticket_gone (void *q_arg)
{
  struct lockqueue const *q = q_arg;
  struct stat st;
  return fstatat (q->ahead_dir_fd, q->ahead, &st, AT_SYMLINK_NOFOLLOW) != 0;
}

/* Sleep until the waiter of the ticket Q->ahead exits (EXIT_FD), the
   ticket is retired (a rename in its queue, which dnotify reports),
   OWNER_FD is readable, or WAKE.  No inotify instance: see
   dir_notify_open.  Return as lockqueue_wait does, or -2 if this kernel
   has no dnotify.  */
static int
wait_for_exit_or_retirement (struct lockqueue *q, int exit_fd, int owner_fd,
                             struct timespec wake, struct timespec deadline)
{
  int notify_fd = dir_notify_open (q->ahead_dir_fd, DN_RENAME);
  if (notify_fd < 0)
    return -2;
  /* The caller looked at the ticket before we watched: asked again.  */
  int woke = dir_notify_wait (ticket_gone, q,
                              (struct wait_fds) { { exit_fd, owner_fd } },
                              wake);
  int saved_errno = errno;
  dir_notify_close (notify_fd);
  errno = saved_errno;
  if (woke < 0)
    return -1;
  return woke == 1 && deadline_passed (deadline) ? 1 : 0;
}

int
lockqueue_wait (struct lockqueue *q, bool remote, int owner_fd,
                struct timespec deadline)
{
  struct dirlock_owner const *t = &q->ahead_owner;
  struct timespec wake = earlier_deadline (deadline, lockqueue_beat_due (q));
  if (dirlock_has_lease (t))
    wake = earlier_deadline (wake, dirlock_lease_expiry (t));

  int exit_fd = dirlock_ticket_exit_fd (t);
  if (exit_fd < 0 && errno == ESRCH)
    return 0;                   /* it died since we looked: judge again */
  /* No pidfd on this kernel: look again after a while.  */
  bool back_off = exit_fd < 0 && dirlock_same_system (t);

  /* The usual case, a waiter on this system: its exit, or the rename
     that retires its ticket.  */
  if (exit_fd >= 0 && !remote)
    {
      int r = wait_for_exit_or_retirement (q, exit_fd, owner_fd, wake,
                                           deadline);
      if (r != -2)
        {
          int saved_errno = errno;
          close (exit_fd);
          errno = saved_errno;
          return r;
        }
    }

  /* Watch the ticket itself, never the queue: the other tickets'
     comings and goings are no business of ours.  One inotify instance
     serves every wait (closing one costs an RCU grace period).  */
  if (!remote && q->inotify_fd < 0)
    q->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  int wd = -1;
  if (!remote && q->inotify_fd >= 0)
    {
      char path[64 + LOCKQUEUE_TICKET_MAX];
      snprintf (path, sizeof path, "/proc/self/fd/%d/%s", q->ahead_dir_fd,
                q->ahead);
      wd = inotify_add_watch (q->inotify_fd, path,
                              IN_DELETE_SELF | IN_MOVE_SELF
                              | IN_DONT_FOLLOW);
      if (wd < 0 && errno == ENOENT)
        {
          if (exit_fd >= 0)
            close (exit_fd);
          return 0;
        }
    }
  if (wd < 0 || back_off)
    {
      unsigned int cap = remote ? REMOTE_BACKOFF_CAP_MS : BACKOFF_CAP_MS;
      struct timespec pause = { q->backoff_ms / 1000,
                                q->backoff_ms % 1000 * 1000000 };
      wake = earlier_deadline (wake, deadline_after (pause));
      q->backoff_ms = q->backoff_ms * 2 < cap ? q->backoff_ms * 2 : cap;
    }

  struct pollfd fds[3] =
    {
      { .fd = wd >= 0 ? q->inotify_fd : -1, .events = POLLIN },
      { .fd = exit_fd, .events = POLLIN },     /* ignored if -1 */
      { .fd = owner_fd, .events = POLLIN }
    };
  int n = poll (fds, 3, poll_timeout_ms (wake));
  int saved_errno = errno;
  if (wd >= 0)
    {
      /* Fails (EINVAL) if the ticket's deletion removed the watch; then
         drain its events and the IN_IGNORED, so the next wait starts
         with an empty instance.  */
      inotify_rm_watch (q->inotify_fd, wd);
      char buf[4096]
        __attribute__ ((aligned (__alignof__ (struct inotify_event))));
      while (read (q->inotify_fd, buf, sizeof buf) > 0)
        continue;
    }
  if (exit_fd >= 0)
    close (exit_fd);
  if (n < 0 && saved_errno != EINTR)
    {
      errno = saved_errno;
      return -1;
    }
  return n == 0 && deadline_passed (deadline) ? 1 : 0;
}

void
lockqueue_keep (struct lockqueue *q)
{
  if (lockqueue_queued (q))
    drop_ticket (q);
}

void
lockqueue_leave (struct lockqueue *q, struct dirlock_temps_left *left)
{
  if (!lockqueue_queued (q))
    return;
  /* Unlinks the ticket and unregisters it, with no signal between;
     then the queue, if that left it empty (others waiting in it: not
     empty, and not ours to remove, unsaid).  */
  if (!temp_remove (&q->cleanup))
    {
      /* The next look at the queue removes it (scan_queue); until
         then, say so.  */
      int left_errno = errno;
      char *in_queue = xasprintf ("%s/%s", q->name, q->cleanup.name);
      dirlock_keep_temp_left (left, q->parent, in_queue, left_errno);
      free (in_queue);
    }
  temp_remove (&q->cleanup_queue);
  drop_ticket (q);
}

int
lockqueue_take_inotify_fd (struct lockqueue *q)
{
  int fd = q->inotify_fd;
  q->inotify_fd = -1;
  return fd;
}

void
lockqueue_close (struct lockqueue *q)
{
  if (q->inotify_fd >= 0)
    close (q->inotify_fd);
  q->inotify_fd = -1;
  if (q->ahead_dir_fd >= 0)
    close (q->ahead_dir_fd);
  q->ahead_dir_fd = -1;
  if (q->ticket_dir_fd >= 0)
    close (q->ticket_dir_fd);
  q->ticket_dir_fd = -1;
}

/* --- the queue from outside ------------------------------------------ */

void
lockqueue_remove_holding (struct parent_dir const *parent, char const *id,
                          bool retire, struct dirlock_temps_left *left)
{
  char qname[NAME_MAX + 1];
  if (!queue_name (parent, qname, sizeof qname))
    return;
  struct ticket_name *tickets;
  size_t count;
  int fd = scan_queue (parent, qname, &tickets, &count);
  if (fd < 0)
    {
      /* No queue (errno 0), or one that is no directory (ENOTDIR):
         no ticket.  A queue that cannot be read (EIO) keeps the
         holding's ticket, if it has one, which blocks the waiters
         behind it until judged dead: say so.  */
      if (errno != 0 && errno != ENOTDIR)
        dirlock_warn_queue_unread (left, parent, qname, errno);
      return;
    }
  for (size_t i = 0; i < count; i++)
    if (strcmp (ticket_id (&tickets[i]), id) == 0)
      {
        bool hidden_left = false;
        int r = (retire
                 ? retire_name (fd, tickets[i].name, &hidden_left)
                 : unlinkat (fd, tickets[i].name, 0));
        if (r != 0 && errno != ENOENT)
          {
            /* The holding ends all the same, but its ticket stays, and
               the waiters behind it wait until it is judged dead: say
               so, as a waiter that cannot remove its own does.  */
            int left_errno = errno;
            char *in_queue = xasprintf ("%s/%s%s", qname,
                                        hidden_left ? "." : "",
                                        tickets[i].name);
            if (left)
              dirlock_keep_temp_left (left, parent, in_queue, left_errno);
            else
              warn_temp_left (parent, in_queue, left_errno);
            free (in_queue);
          }
      }
  free (tickets);
  close (fd);
  remove_queue_if_empty (parent, qname);
}

int
lockqueue_list (struct parent_dir const *parent,
                struct dirlock_owner **list, size_t *count,
                char *unread, size_t unread_size)
{
  *list = NULL;
  *count = 0;
  if (unread_size)
    unread[0] = '\0';
  char qname[NAME_MAX + 1];
  if (!queue_name (parent, qname, sizeof qname))
    return 0;
  struct ticket_name *tickets;
  size_t n;
  int fd = scan_queue (parent, qname, &tickets, &n);
  if (fd < 0)
    {
      /* The queue that cannot be read (EACCES, EIO) is named, as a
         waiter names it; one that is no directory is said otherwise.  */
      if (errno != 0 && errno != ENOTDIR)
        snprintf (unread, unread_size, "%s", qname);
      return errno == 0 ? 0 : -1;
    }
  struct dirlock_owner *v = n ? xnmalloc (n, sizeof *v) : NULL;
  size_t kept = 0;
  int result = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (read_ticket (fd, &tickets[i], &v[kept]) == 0)
        kept++;
      else if (errno != ENOENT && errno != EINVAL)
        {
          /* Gone (its waiter left) or not a ticket at all, it is
             skipped, as lockqueue_turn skips it; any other failure
             (EIO) would make a list without it a lie, and a waiter
             meeting it fails too.  */
          int saved_errno = errno;
          snprintf (unread, unread_size, "%s/%s", qname, tickets[i].name);
          free (v);
          v = NULL;
          kept = 0;
          errno = saved_errno;
          result = -1;
          break;
        }
    }
  int saved_errno = errno;
  free (tickets);
  close (fd);
  *list = v;
  *count = kept;
  errno = saved_errno;
  return result;
}
