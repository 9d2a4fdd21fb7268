{#- A 32-hex-character key from the given expressions (MD5 of their '|'-joined text). -#}
{% macro astros_surrogate_key(expressions) -%}
    lower(hex(MD5(concat(
        {%- for expression in expressions %}
        toString({{ expression }}){% if not loop.last %}, '|',{% endif %}
        {%- endfor %}
    ))))
{%- endmacro %}
