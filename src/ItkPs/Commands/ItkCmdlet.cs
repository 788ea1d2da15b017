using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Unix;

namespace ItkPs.Commands;

/// <summary>Stable error ids: scripts and tests match on these, never on message text.</summary>
public static class ErrorIds
{
    public const string VhostNotFound = nameof(VhostNotFound);
    public const string VhostExists = nameof(VhostExists);
    public const string VhostFileExists = nameof(VhostFileExists);
    public const string InvalidServerName = nameof(InvalidServerName);
    public const string InvalidAlias = nameof(InvalidAlias);
    public const string InvalidListen = nameof(InvalidListen);
    public const string InvalidDocumentRoot = nameof(InvalidDocumentRoot);
    public const string UserNotFound = nameof(UserNotFound);
    public const string GroupNotFound = nameof(GroupNotFound);
    public const string RootIdRefused = nameof(RootIdRefused);
    public const string CreateUserFailed = nameof(CreateUserFailed);
    public const string FixPermissionsFailed = nameof(FixPermissionsFailed);
    public const string ConfigWriteFailed = nameof(ConfigWriteFailed);
    public const string ConfigNotFound = nameof(ConfigNotFound);
    public const string CertificateInvalid = nameof(CertificateInvalid);
    public const string CertificateInstallFailed = nameof(CertificateInstallFailed);
    public const string NotTlsVhost = nameof(NotTlsVhost);
    public const string TlsNeedsUser = nameof(TlsNeedsUser);
    public const string AcmeFailed = nameof(AcmeFailed);
    public const string ReloadRejected = nameof(ReloadRejected);
}

/// <summary>Common ground of the ItkPs cmdlets: the config root, look-ups and error records.</summary>
public abstract class ItkCmdlet : PSCmdlet
{
    /// <summary>The folder holding itkps.conf and vhosts.d (default: $env:ITKPS_CONFIG_ROOT, else /etc/itkps).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConfigRoot { get; set; }

    protected IAccountDatabase Accounts => SystemAccounts.Instance;

    protected ConfigRoot Root => Core.Hosting.ConfigRoot.Resolve(ConfigRoot is null ? null : ResolvePath(ConfigRoot));

    /// <summary>A path as the user typed it, made absolute against the current PowerShell location.</summary>
    protected string ResolvePath(string path) => SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    protected static ErrorRecord Error(string id, ErrorCategory category, object? target, string message, Exception? inner = null) =>
        new(inner is null ? new InvalidOperationException(message) : new InvalidOperationException(message, inner), id, category, target);

    protected void Fail(string id, ErrorCategory category, object? target, string message, Exception? inner = null) =>
        ThrowTerminatingError(Error(id, category, target, message, inner));

    /// <summary>Vhosts whose ServerName matches a wildcard pattern (all when null).</summary>
    protected List<VirtualHost> FindVhosts(ServerConfig config, string? pattern)
    {
        if (string.IsNullOrEmpty(pattern)) return config.VirtualHosts.ToList();
        var wc = new WildcardPattern(pattern, WildcardOptions.IgnoreCase);
        return config.VirtualHosts.Where(v => wc.IsMatch(v.Name) || v.Aliases.Any(a => string.Equals(a, pattern, StringComparison.OrdinalIgnoreCase))).ToList();
    }

    /// <summary>The one vhost with this exact ServerName; writes VhostNotFound and returns null otherwise.</summary>
    protected VirtualHost? FindOne(ServerConfig config, string name)
    {
        var vh = config.VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
        if (vh is null)
            WriteError(Error(ErrorIds.VhostNotFound, ErrorCategory.ObjectNotFound, name,
                $"No vhost named '{name}' in {Root.Path}. Get-ItkVhost lists the vhosts there."));
        return vh;
    }

    /// <summary>Checks a user/group pair for AssignUserID: both exist and neither is root.</summary>
    protected bool CheckIdentity(string user, string group, object target)
    {
        var u = Accounts.FindUser(user);
        if (u is null)
        {
            WriteError(Error(ErrorIds.UserNotFound, ErrorCategory.ObjectNotFound, target,
                $"User '{user}' does not exist. Create it first, e.g. with Set-ItkUser -User {user} -CreateUser."));
            return false;
        }
        var g = Accounts.FindGroup(group);
        if (g is null)
        {
            WriteError(Error(ErrorIds.GroupNotFound, ErrorCategory.ObjectNotFound, target,
                $"Group '{group}' does not exist. Create it first (groupadd --system {group}) or omit -Group."));
            return false;
        }
        if (u.Uid == 0 || g.Gid == 0)
        {
            WriteError(Error(ErrorIds.RootIdRefused, ErrorCategory.InvalidArgument, target,
                $"'{user}:{group}' is uid/gid 0: a vhost never runs as root. Pick the site's own account."));
            return false;
        }
        return true;
    }

    /// <summary>The group of a user's primary gid, for when -Group is not given.</summary>
    protected string PrimaryGroup(string user) =>
        Accounts.FindUser(user) is { } u && Accounts.FindGroup(u.Gid) is { } g ? g.Name : user;

    /// <summary>Writes a configuration file atomically, keeping the old one as .bak.</summary>
    protected bool TryWrite(string path, string text, object target)
    {
        try
        {
            AtomicFile.Write(path, text);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Error(ErrorIds.ConfigWriteFailed, ErrorCategory.WriteError, target, $"Cannot write '{path}': {e.Message}", e));
            return false;
        }
    }

    /// <summary>Reads a vhost back from the config root after a change, for -PassThru.</summary>
    protected VirtualHost? ReadBack(string name) =>
        Root.Read().VirtualHosts.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));
}
