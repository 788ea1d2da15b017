using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Isolation;
using ItkPs.Core.Unix;

namespace ItkPs.Commands;

/// <summary>Makes a virtual host run as a user, and optionally creates the user and fixes the DocumentRoot permissions.</summary>
/// <remarks>
/// <para>Sets AssignUserID in the vhost's file. With -CreateUser a missing user is created as a system account without a login shell (useradd), with a group of its own or the given -Group.</para>
/// <para>With -FixPermissions the DocumentRoot tree becomes owned by user:group, directories 0750, files 0640 and owner-executable files 0740, so no other tenant can read it; one object per changed path is written. Symlinks are never followed.</para>
/// <para>Each vhost is one change (one What-if line, one confirmation): AssignUserID and the permissions together; creating the user is another, on the account.</para>
/// </remarks>
/// <example>
/// <code>Set-ItkUser -Name shop.example.com -User shop -CreateUser -FixPermissions</code>
/// <para>Creates the user shop, sets AssignUserID shop shop and hands /srv/www/shop to it; lists what changed.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost | Where-Object User -eq www-data | Set-ItkUser -User www-data -FixPermissions -WhatIf</code>
/// <para>Shows which DocumentRoots would be handed to www-data, without changing any.</para>
/// </example>
/// <seealso cref="TestItkVhostCommand"/>
/// <seealso cref="SetItkVhostCommand"/>
[Cmdlet(VerbsCommon.Set, "ItkUser", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(PermissionChangeInfo), typeof(VhostInfo))]
public sealed class SetItkUserCommand : VhostTargetCmdlet
{
    /// <summary>The user the vhost runs as.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    [ValidatePattern("^[a-z_][a-z0-9_-]*[$]?$")]
    public string User { get; set; } = "";

    /// <summary>The group.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(GroupNameCompleter))]
    [ValidatePattern("^[a-z_][a-z0-9_-]*[$]?$")]
    [PSDefaultValue(Help = "the primary group of the user (a new user gets a group of its own name)")]
    public string? Group { get; set; }

    /// <summary>Create the user (and group) if missing: a system account with shell /usr/sbin/nologin and no home directory.</summary>
    [Parameter] public SwitchParameter CreateUser { get; set; }

    /// <summary>Hand the DocumentRoot tree to the user and make it unreadable by others.</summary>
    [Parameter] public SwitchParameter FixPermissions { get; set; }

    /// <summary>Writes the changed vhost, as read back from its file, to the pipeline.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var vh in Targets())
        {
            bool userExists = Accounts.FindUser(User) is not null;
            bool whatIf = false;
            if (!userExists && CreateUser)
            {
                string what = $"Performing the operation \"Create system user (group {Group ?? User}, shell {UserProvisioner.NoLoginShell}) for {vh.Name}\" on target \"{User}\".";
                // The form that tells -WhatIf from a "no": only the first goes on to describe the vhost's change.
                if (ShouldProcess(what, $"Are you sure you want to perform this action?{Environment.NewLine}{what}", "Confirm", out var reason))
                {
                    try { UserProvisioner.CreateSystemUser(User, Group, vh.DocumentRoot, Accounts); }
                    catch (InvalidOperationException e)
                    {
                        WriteError(Errors.Failed(ErrorIds.CreateUserFailed, ErrorCategory.InvalidOperation, User, e));
                        continue;
                    }
                    userExists = true;
                }
                // Under -WhatIf (or $WhatIfPreference) the rest is still described; a "no" ends this vhost.
                else if (reason == ShouldProcessReason.WhatIf) whatIf = true;
                else continue;
            }
            string group = Group ?? (userExists ? PrimaryGroup(User) : User);
            if (!whatIf && !CheckIdentity(User, group, vh.Name)) continue;

            bool assign = !(string.Equals(vh.AssignedUser, User) && string.Equals(vh.AssignedGroup, group));
            bool fix = FixPermissions.IsPresent;
            if (fix && (vh.DocumentRoot is null || !Directory.Exists(vh.DocumentRoot)))
            {
                WriteError(Errors.DirectoryNotFound(ErrorIds.DocumentRootNotFound, vh.Name,
                    $"{vh.Name}: DocumentRoot '{vh.DocumentRoot}' does not exist; nothing to fix. Create it, or give the vhost another with Set-ItkVhost -DocumentRoot."));
                fix = false;
            }
            VhostEditor? editor = null;
            if (assign)
            {
                if ((editor = OpenEditor(vh)) is null) continue;
                editor.Set("AssignUserID", [User, group]);
            }
            if (assign || fix)
            {
                var actions = new List<string>();
                if (assign) actions.Add($"Set AssignUserID {User} {group}");
                if (fix) actions.Add($"make {vh.DocumentRoot} owned by {User}:{group}, directories 0750, files 0640 (0740 when executable)");
                if (!ShouldProcess(Target(vh), string.Join("; ", actions))) continue;
                if (assign && !TryWrite(vh.File, editor!.ToText(), vh.Name)) continue;
                if (fix) Fix(vh, group);
            }
            if (PassThru) WriteObject(Reread(vh));
        }
    }

    private void Fix(VirtualHost vh, string group)
    {
        try
        {
            foreach (var change in PermissionFixer.Fix(vh.DocumentRoot!, Accounts.FindUser(User)!, Accounts.FindGroup(group)!, Accounts, apply: true))
                WriteObject(new PermissionChangeInfo(change));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Errors.Io(ErrorIds.FixPermissionsFailed, write: true, vh.DocumentRoot, $"{vh.Name}: cannot fix the permissions under '{vh.DocumentRoot}': {e.Message}", e));
        }
    }
}
