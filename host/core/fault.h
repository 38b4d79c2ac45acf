/*
 * fault.h - named fault points for crash tests.
 *
 * In a build with AH_FAULTS, AH_FAULT("bus.after_commit_before_ack") kills
 * the process with SIGKILL when the environment variable AGENTHOST_FAULT
 * names that point, after appending the point's name to the file named by
 * AGENTHOST_FAULT_MARK (so a test can assert the point was reached). With
 * AGENTHOST_FAULT_SKIP=N the first N hits pass. In other builds it compiles
 * to nothing. Points: store.before_commit, store.after_commit,
 * store.before_done, store.before_meta_sync (a commit whose meta page is
 * not yet flushed, no next commit to carry it), bus.after_commit_before_ack, bus.after_deliver,
 * bus.before_position_write, bus.after_settling_commit (a bus_commit that
 * wrote its consumer's position is durable, its answer not yet taken),
 * plugin.before_commit, plugin.after_commit (a plugin's host->commit
 * checked and nothing written; durable, the plugin not answered),
 * engine.before_commit (a turn decided, nothing
 * written), engine.after_commit (a turn committed, nobody told yet),
 * triggers.before_consumer_delete, webhooks.before_consumer_delete (an
 * on_event trigger or a subscription gone, its bus consumer not yet
 * deleted), backup.instance_paused (`agenthost backup` has stopped an
 * instance's processes to copy its private storage).
 */
#ifndef AH_FAULT_H
#define AH_FAULT_H

#ifdef AH_FAULTS
void ah_fault_point(const char *name);
#define AH_FAULT(name) ah_fault_point(name)
#else
#define AH_FAULT(name) ((void)0)
#endif

#endif
