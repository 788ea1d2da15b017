using Mono.Unix.Native;

namespace ItkPs.Core.Unix;

/// <summary>A user as the system's passwd database has it.</summary>
public sealed record UserAccount(string Name, uint Uid, uint Gid, string Home, string Shell);

/// <summary>A group as the system's group database has it, with its listed members.</summary>
public sealed record GroupAccount(string Name, uint Gid, IReadOnlyList<string> Members);

/// <summary>
/// Look-ups of users and groups. An interface so that validation can be unit-tested with a
/// table; everything that proves an invariant uses <see cref="SystemAccounts"/>.
/// </summary>
public interface IAccountDatabase
{
    UserAccount? FindUser(string nameOrId);
    GroupAccount? FindGroup(string nameOrId);
    UserAccount? FindUser(uint uid);
    GroupAccount? FindGroup(uint gid);
    /// <summary>Every gid the user is in (primary and supplementary), as initgroups would set.</summary>
    IReadOnlyList<uint> GroupsOf(string user);
    /// <summary>Every user whose primary group is this gid.</summary>
    IReadOnlyList<string> UsersWithPrimaryGroup(uint gid);
}

/// <summary>The real passwd/group databases through Mono.Unix (getpwnam, getgrnam, getgrouplist).</summary>
public sealed class SystemAccounts : IAccountDatabase
{
    public static readonly SystemAccounts Instance = new();

    /// <summary>Accepts a name or Apache's "#uid" form.</summary>
    public UserAccount? FindUser(string nameOrId)
    {
        Passwd? pw = nameOrId.StartsWith('#') && uint.TryParse(nameOrId[1..], out uint id) ? Syscall.getpwuid(id) : Syscall.getpwnam(nameOrId);
        return pw is null ? null : ToUser(pw);
    }

    public UserAccount? FindUser(uint uid)
    {
        var pw = Syscall.getpwuid(uid);
        return pw is null ? null : ToUser(pw);
    }

    public GroupAccount? FindGroup(string nameOrId)
    {
        Group? gr = nameOrId.StartsWith('#') && uint.TryParse(nameOrId[1..], out uint id) ? Syscall.getgrgid(id) : Syscall.getgrnam(nameOrId);
        return gr is null ? null : ToGroup(gr);
    }

    public GroupAccount? FindGroup(uint gid)
    {
        var gr = Syscall.getgrgid(gid);
        return gr is null ? null : ToGroup(gr);
    }

    private static UserAccount ToUser(Passwd pw) => new(pw.pw_name ?? "", pw.pw_uid, pw.pw_gid, pw.pw_dir ?? "", pw.pw_shell ?? "");
    private static GroupAccount ToGroup(Group gr) => new(gr.gr_name ?? "", gr.gr_gid, gr.gr_mem?.OfType<string>().ToArray() ?? []);

    public IReadOnlyList<uint> GroupsOf(string user) =>
        Syscall.getgrouplist(user)?.Select(g => g.gr_gid).Distinct().ToArray() ?? [];

    public IReadOnlyList<string> UsersWithPrimaryGroup(uint gid)
    {
        // getpwent walks the whole database; it is only used by the isolation audit.
        var names = new List<string>();
        lock (this)
        {
            Syscall.setpwent();
            try
            {
                for (var pw = Syscall.getpwent(); pw is not null; pw = Syscall.getpwent())
                    if (pw.pw_gid == gid && pw.pw_name is not null) names.Add(pw.pw_name);
            }
            finally { Syscall.endpwent(); }
        }
        return names;
    }
}
