<#
.SYNOPSIS
    Runs the Pester tests in their own pwsh (build.ps1 -Task Test calls it) and writes the
    counts as JSON, so the build can add them to the xunit counts.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $TestPath,
    [Parameter(Mandatory)] [string] $ResultPath
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = $TestPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$result = Invoke-Pester -Configuration $config
# What failed, by name and first line of the error: the build prints it next to the counts, where a
# CI log's tail keeps it.
$failures = @(
    foreach ($t in $result.Failed) { "$($t.ExpandedPath): $((@($t.ErrorRecord)[0].Exception.Message -split "`n")[0])" }
    foreach ($b in $result.FailedBlocks) { "$($b.ExpandedPath) (block): $((@($b.ErrorRecord)[0].Exception.Message -split "`n")[0])" }
    foreach ($c in $result.FailedContainers) { "$($c.Item) (file): $((@($c.ErrorRecord)[0].Exception.Message -split "`n")[0])" }
)
@{ Passed = $result.PassedCount; Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount; Failures = $failures } |
    ConvertTo-Json | Set-Content $ResultPath
