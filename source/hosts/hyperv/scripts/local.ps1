param([string]$RdScript, [string]$RdParams)
# rundirect local launcher: runs one constant script in this long-lived Windows PowerShell and
# writes its output lines as they are (no host formatting, no wrapping).
$block = [ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdScript)))
foreach ($line in @(& $block $RdParams)) { [Console]::Out.WriteLine([string]$line) }
