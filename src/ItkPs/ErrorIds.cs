using System.Management.Automation;

namespace ItkPs;

/// <summary>
/// The stable ErrorIds of every error the module writes: scripts and tests match on these
/// (FullyQualifiedErrorId "VhostNotFound,ItkPs.Commands.GetItkVhostCommand"), never on the text.
/// Each is used through <see cref="Errors"/>, which gives it its exception type and category.
/// </summary>
public static class ErrorIds
{
    // Vhosts and their files
    public const string VhostNotFound = nameof(VhostNotFound);
    public const string VhostExists = nameof(VhostExists);
    public const string VhostFileExists = nameof(VhostFileExists);
    public const string InvalidServerName = nameof(InvalidServerName);
    public const string InvalidAlias = nameof(InvalidAlias);
    public const string InvalidListen = nameof(InvalidListen);
    public const string DocumentRootNotFound = nameof(DocumentRootNotFound);
    public const string ConfigNotFound = nameof(ConfigNotFound);
    public const string ConfigReadFailed = nameof(ConfigReadFailed);
    public const string ConfigWriteFailed = nameof(ConfigWriteFailed);

    // Users and permissions
    public const string UserNotFound = nameof(UserNotFound);
    public const string GroupNotFound = nameof(GroupNotFound);
    public const string GroupNeedsUser = nameof(GroupNeedsUser);
    public const string RootIdRefused = nameof(RootIdRefused);
    public const string CreateUserFailed = nameof(CreateUserFailed);
    public const string FixPermissionsFailed = nameof(FixPermissionsFailed);

    // The RPM recipe
    public const string SpecNotFound = nameof(SpecNotFound);
    public const string SpecExists = nameof(SpecExists);
    public const string SpecAnchorMissing = nameof(SpecAnchorMissing);
    public const string SourceNotFound = nameof(SourceNotFound);
    public const string PreforkNotFound = nameof(PreforkNotFound);
    public const string ItkPatchMissing = nameof(ItkPatchMissing);
    public const string RpmBuildFailed = nameof(RpmBuildFailed);
    public const string RootNotFound = nameof(RootNotFound);

    // itkd
    public const string ItkdNotFound = nameof(ItkdNotFound);
    public const string ServerNotRunning = nameof(ServerNotRunning);
    public const string ServerAlreadyRunning = nameof(ServerAlreadyRunning);
    public const string ServerStartFailed = nameof(ServerStartFailed);
    public const string ServerStopTimeout = nameof(ServerStopTimeout);
    public const string ReloadRejected = nameof(ReloadRejected);
    public const string ReloadTimeout = nameof(ReloadTimeout);
}

/// <summary>
/// The error records of the module, one factory per kind of failure, so each ErrorId always
/// comes with the exception type and ErrorCategory PowerShell's own cmdlets use for that kind.
/// </summary>
internal static class Errors
{
    /// <summary>A named thing (vhost, user, server) that is not there: ItemNotFoundException, ObjectNotFound.</summary>
    public static ErrorRecord NotFound(string id, object? target, string message) =>
        new(new ItemNotFoundException(message), id, ErrorCategory.ObjectNotFound, target);

    /// <summary>A file that is not there: FileNotFoundException, ObjectNotFound.</summary>
    public static ErrorRecord FileNotFound(string id, string path, string message) =>
        new(new FileNotFoundException(message, path), id, ErrorCategory.ObjectNotFound, path);

    /// <summary>A directory that is not there: DirectoryNotFoundException, ObjectNotFound.</summary>
    public static ErrorRecord DirectoryNotFound(string id, object? target, string message) =>
        new(new DirectoryNotFoundException(message), id, ErrorCategory.ObjectNotFound, target);

    /// <summary>A parameter value that cannot be used: PSArgumentException naming the parameter, InvalidArgument.</summary>
    public static ErrorRecord InvalidArgument(string id, string parameter, object? target, string message) =>
        new(new PSArgumentException(message, parameter), id, ErrorCategory.InvalidArgument, target);

    /// <summary>A file that would be replaced: IOException, ResourceExists.</summary>
    public static ErrorRecord FileExists(string id, string path, string message) =>
        new(new IOException(message), id, ErrorCategory.ResourceExists, path);

    /// <summary>Something already there that is not a file (a vhost name, a running server): InvalidOperationException, ResourceExists.</summary>
    public static ErrorRecord Exists(string id, object? target, string message) =>
        new(new InvalidOperationException(message), id, ErrorCategory.ResourceExists, target);

    /// <summary>
    /// A failed read or write: the system's own exception (IOException, UnauthorizedAccessException)
    /// with our message as the details; PermissionDenied when it is one, else ReadError/WriteError.
    /// </summary>
    public static ErrorRecord Io(string id, bool write, object? target, string message, Exception e) =>
        new(e, id, e is UnauthorizedAccessException ? ErrorCategory.PermissionDenied : write ? ErrorCategory.WriteError : ErrorCategory.ReadError, target)
        {
            ErrorDetails = new ErrorDetails(message),
        };

    /// <summary>An operation that failed for a reason the exception carries (useradd, rpmbuild, a spec anchor).</summary>
    public static ErrorRecord Failed(string id, ErrorCategory category, object? target, Exception e, string? message = null) =>
        new(e, id, category, target) { ErrorDetails = message is null ? null : new ErrorDetails(message) };

    /// <summary>A state that forbids the operation: InvalidOperationException with the given category.</summary>
    public static ErrorRecord InvalidOperation(string id, ErrorCategory category, object? target, string message) =>
        new(new InvalidOperationException(message), id, category, target);

    /// <summary>Waited and it did not happen: TimeoutException, OperationTimeout.</summary>
    public static ErrorRecord Timeout(string id, object? target, string message) =>
        new(new TimeoutException(message), id, ErrorCategory.OperationTimeout, target);
}
