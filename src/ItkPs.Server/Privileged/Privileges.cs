using System.Text;
using ItkPs.Core.Unix;
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
    /// <summary>Run by the dispatcher (to User/Group) and by each worker (to its vhost user), as root, first thing.</summary>
    public static void DropTo(UserAccount user, GroupAccount group, (long Min, long Max) uidRange, (long Min, long Max) gidRange)
    {
        if (user.Uid == 0 || group.Gid == 0) throw new PrivilegeException($"refusing to run as {user.Name}:{group.Name}: uid/gid 0");
        if (user.Uid < uidRange.Min || user.Uid > uidRange.Max) throw new PrivilegeException($"uid {user.Uid} of {user.Name} is outside LimitUIDRange {uidRange.Min}-{uidRange.Max}");
        if (group.Gid < gidRange.Min || group.Gid > gidRange.Max) throw new PrivilegeException($"gid {group.Gid} of {group.Name} is outside LimitGIDRange {gidRange.Min}-{gidRange.Max}");
        if (Syscall.geteuid() != 0) throw new PrivilegeException("must start as root to drop to a user");

        // initgroups: the user's groups from /etc/group, plus the vhost's group.
        if (Native.initgroups(user.Name, group.Gid) != 0) throw new PrivilegeException($"initgroups({user.Name}): {Native.Error()}");
        if (Syscall.setresgid(group.Gid, group.Gid, group.Gid) != 0) throw new PrivilegeException($"setresgid({group.Gid}): {Stdlib.GetLastError()}");
        if (Syscall.setresuid(user.Uid, user.Uid, user.Uid) != 0) throw new PrivilegeException($"setresuid({user.Uid}): {Stdlib.GetLastError()}");
        // Per thread, and inherited by what this thread spawns: set on the main thread, which
        // is the one /proc/<pid>/status reports and the one that starts children.
        if (Native.prctl(Native.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw new PrivilegeException($"PR_SET_NO_NEW_PRIVS: {Native.Error()}");
        Verify(user.Uid, group.Gid);
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

    /// <summary>
    /// Run by a worker at start: a process group of its own, so that the master can end whatever
    /// the worker started (php-cgi, CGI scripts) when the worker dies, even by SIGKILL. Not a new
    /// session: with the kernel's autogroup scheduling a session is a scheduling group, and a
    /// worker in one of its own would get a fixed share of the CPU against everything else.
    /// </summary>
    public static void OwnProcessGroup()
    {
        if (Native.setpgid(0, 0) < 0) throw new PrivilegeException($"setpgid: {Native.Error()}");
    }

    /// <summary>Run by the master after a worker has exited: ends what is left of its process group.</summary>
    public static void KillProcessGroup(int leader) => Syscall.kill(-leader, Signum.SIGKILL);

    private static readonly object SpawnGate = new();

    /// <summary>
    /// Starts a program from a dropped worker (a CGI script, php-cgi). NO_NEW_PRIVS is per thread
    /// and inherited by what the thread forks, and Process.Start forks on the calling thread, so it
    /// is set on this thread first: a thread the runtime made before the drop cannot start a
    /// child that a setuid binary could raise.
    /// </summary>
    public static System.Diagnostics.Process StartChild(System.Diagnostics.ProcessStartInfo psi)
    {
        if (Native.prctl(Native.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw new PrivilegeException($"PR_SET_NO_NEW_PRIVS: {Native.Error()}");
        if (Syscall.geteuid() == 0) throw new PrivilegeException("refusing to start a child as root");
        lock (SpawnGate) return System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
    }

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
