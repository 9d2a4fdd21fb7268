{#- The given columns together identify a row: returns each combination seen more than once. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count() as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having occurrences > 1

{% endtest %}
