#requires -Version 7.4
<#
.SYNOPSIS
    Publishes a staged ItkPs module folder to a local folder repository with Publish-PSResource.
.DESCRIPTION
    PSResourceGet (shipped with PowerShell 7.4 and later) packs the module into
    ItkPs.<version>.nupkg from its manifest: id, version, description, tags and the list of
    cmdlets all come from ItkPs.psd1. The repository is a plain folder; install from it with
        Register-PSResourceRepository -Name ItkPsLocal -Uri <folder> -Trusted
        Install-PSResource -Name ItkPs -Repository ItkPsLocal
    PSResourceGet keeps its list of repositories in the user's data folder. The publish runs
    in a pwsh of its own whose HOME and XDG_DATA_HOME are a scratch folder, so the machine's
    list is left as it was.
.EXAMPLE
    ./tools/Publish-ItkModule.ps1 -ModulePath out/ItkPs -RepositoryPath out/repository
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $RepositoryPath
)
$ErrorActionPreference = 'Stop'
$ModulePath = (Resolve-Path $ModulePath).Path
New-Item -ItemType Directory -Force $RepositoryPath | Out-Null
$RepositoryPath = (Resolve-Path $RepositoryPath).Path
$scratchHome = Join-Path ([IO.Path]::GetTempPath()) "itkps-publish-$PID"
# .NET reports an XDG folder only when it exists; PSResourceGet would otherwise write beside the working directory.
New-Item -ItemType Directory -Force (Join-Path $scratchHome '.local/share') | Out-Null
try {
    $script = {
        param($module, $repository)
        $ErrorActionPreference = 'Stop'
        Register-PSResourceRepository -Name ItkPsLocal -Uri $repository -Trusted
        Publish-PSResource -Path $module -Repository ItkPsLocal
    }
    $psi = [System.Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "& { $script } '$($ModulePath -replace "'", "''")' '$($RepositoryPath -replace "'", "''")'") { $psi.ArgumentList.Add($a) }
    $psi.Environment['HOME'] = $scratchHome
    $psi.Environment['XDG_DATA_HOME'] = Join-Path $scratchHome '.local/share'
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.WaitForExit()
    if ($p.ExitCode -ne 0) { throw "Publish-PSResource failed (exit $($p.ExitCode))" }
} finally { Remove-Item -Recurse -Force $scratchHome -ErrorAction SilentlyContinue }
$version = (Import-PowerShellDataFile (Join-Path $ModulePath 'ItkPs.psd1')).ModuleVersion
Get-Item (Join-Path $RepositoryPath "ItkPs.$version.nupkg")
