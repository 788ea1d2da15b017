using System.Text;
using Mono.Unix.Native;

namespace ItkPs.Server.Privileged;

/// <summary>
/// Dropping root for good. The order is the one OpenSSH and Apache use: supplementary groups
/// first (while still root), then the gid, then the uid, then NO_NEW_PRIVS; afterwards the
/// process proves it cannot get root or the old ids back. Any failure throws, and the caller
/// exits: a process that could not drop must never serve.
/// </summary>
public static class Privileges
{
    /// <summary>
    /// Run by the dispatcher (to its own account) and by each worker (to its pool's user), as root,
    /// first thing after reading the snapshot. The ids are the ones the master resolved; the name
    /// is only used to read the user's supplementary groups.
    /// </summary>
    public static void DropTo(string user, uint uid, uint gid, (long Min, long Max) uidRange, (long Min, long Max) gidRange)
    {
        if (uid == 0 || gid == 0) throw new PrivilegeException($"refusing to run as {user} ({uid}:{gid}): uid/gid 0");
        if (uid < uidRange.Min || uid > uidRange.Max) throw new PrivilegeException($"uid {uid} of {user} is outside LimitUIDRange {uidRange.Min}-{uidRange.Max}");
        if (gid < gidRange.Min || gid > gidRange.Max) throw new PrivilegeException($"gid {gid} of {user} is outside LimitGIDRange {gidRange.Min}-{gidRange.Max}");
        if (Syscall.geteuid() != 0) throw new PrivilegeException("must start as root to drop to a user");

        // initgroups: the user's groups from /etc/group, plus the pool's group.
        if (Native.initgroups(user, gid) != 0) throw new PrivilegeException($"initgroups({user}): {Native.Error()}");
        if (Syscall.setresgid(gid, gid, gid) != 0) throw new PrivilegeException($"setresgid({gid}): {Stdlib.GetLastError()}");
        if (Syscall.setresuid(uid, uid, uid) != 0) throw new PrivilegeException($"setresuid({uid}): {Stdlib.GetLastError()}");
        // Per thread, and inherited by what this thread spawns: set on the main thread, which
        // is the one /proc/<pid>/status reports; ChildProcess sets it on its own thread again.
        if (Native.prctl(Native.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw new PrivilegeException($"PR_SET_NO_NEW_PRIVS: {Native.Error()}");
        Verify(uid, gid);
    }

    /// <summary>Proves the drop: all three uids and gids are the target, and going back fails.</summary>
    public static void Verify(uint uid, uint gid)
    {
        Native.getresuid(out var r, out var e, out var s);
        Native.getresgid(out var rg, out var eg, out var sg);
        if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid)
            throw new PrivilegeException($"ids after drop are uid {r}/{e}/{s} gid {rg}/{eg}/{sg}, expected {uid}/{gid}");
        if (Syscall.setresuid(0, 0, 0) == 0 || Syscall.setuid(0) == 0 || Syscall.setresgid(0, 0, 0) == 0 || Syscall.setgid(0) == 0)
            throw new PrivilegeException("could regain root after dropping privileges");
        if (Native.prctl(Native.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
            throw new PrivilegeException("NO_NEW_PRIVS is not set");
    }

    /// <summary>Run by the master after a worker has exited: ends what is left of its process group.</summary>
    public static void KillProcessGroup(int leader) => Native.kill(-leader, Native.SIGKILL);

    /// <summary>Run by the master: ends a worker that stopped reading its channel (SIGKILL works on a stopped process).</summary>
    public static void Kill(int pid) => Native.kill(pid, Native.SIGKILL);

    /// <summary>NiceValue, clamped to -20..19 as mpm-itk does. Run as root before the drop (raising priority needs it).</summary>
    public static void SetNice(int nice)
    {
        if (Native.setpriority(Native.PRIO_PROCESS, 0, Math.Clamp(nice, -20, 19)) != 0)
            throw new PrivilegeException($"setpriority({nice}): {Native.Error()}");
    }

    /// <summary>The kernel's name for this process (15 bytes; shown by top and ps -o comm).</summary>
    public static void SetProcessName(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name.Length > 15 ? name[..15] : name);
        unsafe
        {
            fixed (byte* p = new byte[16])
            {
                bytes.CopyTo(new Span<byte>(p, 16));
                Native.prctl(Native.PR_SET_NAME, (nuint)p, 0, 0, 0);
            }
        }
    }
}

public sealed class PrivilegeException(string message) : Exception(message);
