#requires -Version 7.4
<#
.SYNOPSIS
    Provisions hosting customers: a Unix user, a DocumentRoot, a vhost running as that user,
    and permissions no other customer can read through. Idempotent: run it again and it
    changes nothing; add a row and only that customer is provisioned.
.DESCRIPTION
    For each customer (Name = ServerName, User, optional Alias list separated by spaces,
    optional Php = FastCgi or Off):
      1. the DocumentRoot <WebRoot>/<Name> exists, with a placeholder index.html if it has none
         (and whoami.php when PHP is on);
      2. the vhost exists (New-ItkVhost), with the given aliases and PHP setting (Set-ItkVhost
         when they differ);
      3. the vhost runs as the user, who is created as a system account when missing, and the
         DocumentRoot is handed to that user (Set-ItkUser -CreateUser -FixPermissions).
    Writes one summary object per customer with what changed. -Remove undoes it all (vhost
    file retired to .bak, user deleted, DocumentRoot deleted); use it for demos and tests.
.EXAMPLE
    ./provision-shared-host.ps1 -Customers (Import-Csv customers.csv)
.EXAMPLE
    ./provision-shared-host.ps1 -Customers (Import-Csv customers.csv) -ConfigRoot /tmp/itkps -WebRoot /tmp/www -Listen 127.0.0.1:8080 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [object[]] $Customers,
    [string] $ConfigRoot,
    [string] $WebRoot = '/srv/www',
    [string] $Listen = '*:80',
    [switch] $Remove
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module ItkPs)) { Import-Module ItkPs }
$common = @{}
if ($ConfigRoot) { $common.ConfigRoot = $ConfigRoot }

foreach ($c in $Customers) {
    $name = $c.Name
    $user = $c.User
    $aliases = @(if ($c.PSObject.Properties['Alias'] -and $c.Alias) { $c.Alias -split '\s+' | Where-Object { $_ } })
    $php = if ($c.PSObject.Properties['Php'] -and $c.Php) { $c.Php } else { 'Off' }
    $docRoot = Join-Path $WebRoot $name
    $changes = [System.Collections.Generic.List[string]]::new()

    if ($Remove) {
        if (Get-ItkVhost @common -Name $name -ErrorAction SilentlyContinue) {
            Remove-ItkVhost @common -Name $name -Confirm:$false; $changes.Add('vhost removed')
        }
        if ((getent passwd $user) -and $PSCmdlet.ShouldProcess($user, 'Delete user')) {
            userdel $user 2>$null | Out-Null; $changes.Add('user deleted')
        }
        if ((Test-Path $docRoot) -and $PSCmdlet.ShouldProcess($docRoot, 'Delete DocumentRoot')) {
            Remove-Item -Recurse -Force $docRoot; $changes.Add('DocumentRoot deleted')
        }
        [pscustomobject]@{ Name = $name; User = $user; Changes = $changes.ToArray() }
        continue
    }

    if (-not (Test-Path $docRoot) -and $PSCmdlet.ShouldProcess($docRoot, 'Create DocumentRoot')) {
        New-Item -ItemType Directory -Force $docRoot | Out-Null; $changes.Add('DocumentRoot created')
    }
    $index = Join-Path $docRoot 'index.html'
    if ((Test-Path $docRoot) -and -not (Test-Path $index) -and $PSCmdlet.ShouldProcess($index, 'Write placeholder page')) {
        Set-Content -Path $index -Value "<!doctype html><title>$name</title><h1>$name</h1><p>served as $user</p>"
        $changes.Add('index.html written')
    }
    $whoami = Join-Path $docRoot 'whoami.php'
    if ($php -eq 'FastCgi' -and (Test-Path $docRoot) -and -not (Test-Path $whoami) -and $PSCmdlet.ShouldProcess($whoami, 'Write PHP page')) {
        Set-Content -Path $whoami -Value '<?php echo "PHP runs as uid ", posix_getuid(), " (", posix_getpwuid(posix_getuid())["name"], ")\n";'
        $changes.Add('whoami.php written')
    }

    $vhost = Get-ItkVhost @common -Name $name -ErrorAction SilentlyContinue
    if (-not $vhost) {
        New-ItkVhost @common -Name $name -DocumentRoot $docRoot -Alias $aliases -Php $php -Listen $Listen -WarningAction SilentlyContinue
        if (-not $WhatIfPreference) { $changes.Add('vhost created') }
    } else {
        if ((@($vhost.Aliases) -join ' ') -ne ($aliases -join ' ')) {
            Set-ItkVhost @common -Name $name -Alias $aliases; $changes.Add('aliases updated')
        }
        if ($vhost.Php -ne $php) { Set-ItkVhost @common -Name $name -Php $php; $changes.Add("PHP $php") }
    }

    if ($WhatIfPreference -and -not $vhost) {
        Write-Host "What if: Set-ItkUser -Name $name -User $user -CreateUser -FixPermissions"
    } else {
        $userExisted = [bool](getent passwd $user)
        $before = Get-ItkVhost @common -Name $name
        $fixed = @(Set-ItkUser @common -Name $name -User $user -CreateUser -FixPermissions)
        $after = Get-ItkVhost @common -Name $name
        if (-not $userExisted) { $changes.Add('user created') }
        if ($before.User -ne $after.User -or $before.Group -ne $after.Group) { $changes.Add("runs as $($after.User):$($after.Group)") }
        if ($fixed.Count -gt 0) { $changes.Add("$($fixed.Count) permission change(s)") }
    }
    [pscustomobject]@{ Name = $name; User = $user; DocumentRoot = $docRoot; Changes = $changes.ToArray() }
}
